import { describe, expect, it } from 'vitest';
import { connect } from './db.js';

// postgres.js decides "read-write" from the default_transaction_read_only a server
// reports at startup, which is off on a hot standby: a multi-host pool must ask for
// "primary" (not in recovery) or it can settle on a standby after a failover.
describe('connect: the session a multi-host URL asks for', () => {
  const attrs = (url: string) => {
    const sql = connect({ url });
    const value = (sql.options as { target_session_attrs?: string }).target_session_attrs;
    void sql.end({ timeout: 0 });
    return value;
  };

  it('asks for the primary when the URL names several hosts and says nothing, or says read-write', () => {
    expect(attrs('postgres://u:p@127.0.0.1:1,127.0.0.1:2/db')).toBe('primary');
    expect(attrs('postgres://u:p@127.0.0.1:1,127.0.0.1:2/db?target_session_attrs=read-write')).toBe('primary');
  });

  it('keeps another explicit choice, and leaves a single host alone', () => {
    expect(attrs('postgres://u:p@127.0.0.1:1,127.0.0.1:2/db?target_session_attrs=prefer-standby')).toBe('prefer-standby');
    expect(attrs('postgres://u:p@127.0.0.1:1/db')).toBeFalsy();
  });
});
