import { Badge, Group, Tooltip } from '@mantine/core';

// Badges never truncate: in an auto-width table cell Mantine's ellipsis would let the column
// shrink the label to "ACTI…".
const FULL = { label: { overflow: 'visible' } } as const;
import type { Run, RunStatus, Task, TaskState } from '../../shared/schemas';

const STATE_COLOR: Record<TaskState, string> = { active: 'teal', paused: 'yellow', completed: 'gray' };

export function TaskStateBadge({ state }: { state: TaskState }) {
  return (
    <Badge color={STATE_COLOR[state]} variant="light" radius="sm" styles={FULL}>
      {state}
    </Badge>
  );
}

export function KindBadge({ kind }: { kind: Task['kind'] }) {
  return (
    <Badge color={kind === 'once' ? 'grape' : 'blue'} variant="outline" radius="sm" styles={FULL}>
      {kind === 'once' ? 'one-time' : 'recurring'}
    </Badge>
  );
}

const STATUS_COLOR: Record<RunStatus, string> = {
  pending: 'gray',
  running: 'blue',
  succeeded: 'teal',
  failed: 'red',
  skipped: 'orange',
};

export function RunStatusBadge({ status }: { status: RunStatus }) {
  return (
    <Badge color={STATUS_COLOR[status]} variant={status === 'succeeded' ? 'light' : 'filled'} radius="sm" styles={FULL}>
      {status}
    </Badge>
  );
}

/** Status plus the flags that explain it: fired late, triggered by hand. */
export function RunBadges({ run }: { run: Pick<Run, 'status' | 'late' | 'trigger'> }) {
  return (
    <Group gap={4} wrap="nowrap">
      <RunStatusBadge status={run.status} />
      {run.late && (
        <Tooltip label="Fired more than 10 s after its time (misfire or downtime)" withArrow>
          <Badge color="orange" variant="outline" radius="sm" styles={FULL} aria-label="late: fired more than 10 s after its time">
            late
          </Badge>
        </Tooltip>
      )}
      {run.trigger === 'manual' && (
        <Tooltip label="Started with “Run now”" withArrow>
          <Badge color="indigo" variant="outline" radius="sm" styles={FULL} aria-label="manual: started with Run now">
            manual
          </Badge>
        </Tooltip>
      )}
    </Group>
  );
}
