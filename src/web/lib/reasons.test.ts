import { describe, expect, it } from 'vitest';
import { readableReason } from './reasons';

describe('readableReason', () => {
  it('labels the kinds the server writes and keeps their detail', () => {
    expect(readableReason('expired: 42 s late, maxLatenessMs 30000')).toMatchObject({ label: 'Expired', detail: '42 s late, maxLatenessMs 30000', tone: 'skip' });
    expect(readableReason('misfired: skipped by policy')).toMatchObject({ label: 'Missed', detail: 'skipped by policy' });
    expect(readableReason('overlap: previous run still in progress')).toMatchObject({ label: 'Overlap', tone: 'skip' });
    expect(readableReason('fired 12 s late')).toMatchObject({ label: 'Late', detail: 'fired 12 s late' });
    expect(readableReason('run now')).toMatchObject({ label: 'Run now', detail: null });
  });

  it('reads an unknown kind as its own label, and nothing as null', () => {
    expect(readableReason('throttled: origin circuit open')).toEqual({ label: 'throttled', detail: 'origin circuit open', tone: 'info' });
    expect(readableReason('connection refused')).toEqual({ label: 'connection refused', detail: null, tone: 'info' });
    expect(readableReason('  ')).toBeNull();
    expect(readableReason(null)).toBeNull();
  });
});
