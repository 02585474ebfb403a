// A run's `reason` as a person reads it. The server writes reasons as "kind: detail"
// (`misfired: skipped by policy`, `expired: 42 s late, maxLatenessMs 30000`,
// `overlap: previous run still in progress`); the kind becomes a short label and the
// detail stays as written, so an unknown kind still reads sensibly.

export type ReasonTone = 'skip' | 'late' | 'error' | 'info';

export interface ReadableReason {
  /** a short label for a known kind; null for text the UI does not know, shown as written */
  label: string | null;
  detail: string | null;
  tone: ReasonTone;
  /** what the label means, for a tooltip */
  explain?: string;
}

const KINDS: Record<string, Omit<ReadableReason, 'detail'>> = {
  expired: { label: 'Expired', tone: 'skip', explain: 'Not run: it would have started later than the task allows (maxLatenessMs).' },
  misfired: { label: 'Missed', tone: 'late', explain: 'Its time passed while no node could run it (downtime); the misfire policy decided what happened.' },
  overlap: { label: 'Overlap', tone: 'skip', explain: 'Not run: the previous run of this task was still in progress and the overlap policy is skip.' },
  'schedule error': { label: 'Schedule error', tone: 'error', explain: 'The schedule could not be evaluated.' },
  'fired late': { label: 'Late', tone: 'late', explain: 'Started more than 10 s after its time.' },
};

export function readableReason(reason: string | null | undefined): ReadableReason | null {
  const text = reason?.trim();
  if (!text) return null;
  if (text === 'task deleted') return { label: 'Cancelled', detail: 'task deleted', tone: 'skip', explain: 'Its task was deleted or cancelled before this occurrence fired.' };
  if (text === 'run now') return { label: 'Run now', detail: null, tone: 'info', explain: 'Started by hand.' };
  const colon = text.indexOf(':');
  const kind = (colon > 0 ? text.slice(0, colon) : text).trim().toLowerCase();
  const detail = colon > 0 ? text.slice(colon + 1).trim() || null : null;
  const known = KINDS[kind];
  if (known) return { ...known, detail };
  if (/^fired \d+ s late$/.test(text)) return { ...KINDS['fired late']!, detail: text };
  return { label: null, detail: text, tone: 'info' };
}
