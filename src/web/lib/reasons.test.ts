import { describe, expect, it } from 'vitest';
import { readableReason } from './reasons';

describe('readableReason', () => {
  it('labels the kinds the server writes and keeps their detail', () => {
    expect(readableReason('expired: 42 s late, maxLatenessMs 30000')).toMatchObject({ label: 'Expired', detail: '42 s late, maxLatenessMs 30000', tone: 'skip' });
    expect(readableReason('misfired: skipped by policy')).toMatchObject({ label: 'Missed', detail: 'skipped by policy' });
    expect(readableReason('overlap: previous run still in progress')).toMatchObject({ label: 'Overlap', tone: 'skip' });
    expect(readableReason('fired 12 s late')).toMatchObject({ label: 'Late', detail: 'fired 12 s late' });
    expect(readableReason('task deleted')).toMatchObject({ label: 'Cancelled', tone: 'skip' });
    expect(readableReason('run now')).toMatchObject({ label: 'Run now', detail: null });
  });

  it('keeps text of an unknown kind as written, and reads nothing as null', () => {
    expect(readableReason('gave up after 2 attempts: HTTP 503')).toEqual({ label: null, detail: 'gave up after 2 attempts: HTTP 503', tone: 'info' });
    expect(readableReason('connection refused')).toEqual({ label: null, detail: 'connection refused', tone: 'info' });
    expect(readableReason('  ')).toBeNull();
    expect(readableReason(null)).toBeNull();
  });
});
