// The execution log. Rows that arrive while the table is on screen flash once, so a live
// update is visible without reading every timestamp. The lag (start − scheduled, the moment
// the work really began) sits beside the scheduled time; a row not from today shows its date.
import { memo, useRef } from 'react';
import { Link } from 'react-router-dom';
import { Badge, Button, Card, Group, Stack, Table, Text, Tooltip } from '@mantine/core';
import { isRetryable, type RunView } from '../api/runs';
import { formatLag } from '../lib/time';
import { readableReason } from '../lib/reasons';
import { RunBadges } from './Badges';
import { DeliveriesSummary } from './Deliveries';
import { IconRefresh } from './icons';
import { Instant } from './Instant';

/** Ids not seen in earlier renders, once the table has rendered at least once. */
function useNewIds(runs: RunView[]): Set<string> {
  const seen = useRef<Set<string> | null>(null);
  const fresh = new Set<string>();
  if (seen.current) {
    for (const run of runs) if (!seen.current.has(run.id)) fresh.add(run.id);
  } else {
    seen.current = new Set();
  }
  for (const run of runs) seen.current.add(run.id);
  return fresh;
}

function lagColor(ms: number | null): string | undefined {
  if (ms === null) return undefined;
  if (ms > 10_000) return 'red';
  if (ms > 1_000) return 'orange';
  return undefined;
}

function Lag({ run }: { run: RunView }) {
  return (
    <Text size="sm" ff="monospace" c={lagColor(run.lagMs)} className="nowrap" data-field="lag">
      {run.lagMs === null ? '' : run.lagMs >= 0 ? '+' : ''}
      {formatLag(run.lagMs)}
    </Text>
  );
}

function NodeId({ id }: { id: string | null }) {
  if (!id) return <Text size="sm" c="dimmed">—</Text>;
  return (
    <Tooltip label={id} withArrow openDelay={300}>
      <Text size="sm" ff="monospace" truncate maw={140}>
        {id}
      </Text>
    </Tooltip>
  );
}

const TONE_COLOR = { skip: 'orange', late: 'yellow', error: 'red', info: 'gray' } as const;

/** Why a run was skipped, late or failed: a short label, then the server's own words. */
function Reason({ run }: { run: RunView }) {
  // A delivered webhook's reason ("HTTP 200") only repeats the delivery summary.
  if (run.deliveries?.length && /^HTTP \d{3}$/.test(run.reason ?? '')) return null;
  const r = readableReason(run.reason);
  if (!r) return null;
  const strong = run.status === 'skipped' || run.status === 'failed';
  return (
    <Group gap={6} wrap="nowrap" align="baseline" data-field="reason" title={run.reason ?? undefined}>
      {r.label && (
        <Tooltip label={r.explain ?? r.label} withArrow multiline w={260} disabled={!r.explain}>
          <Badge size="xs" radius="sm" variant={strong ? 'light' : 'outline'} color={TONE_COLOR[r.tone]} styles={{ label: { overflow: 'visible' } }} style={{ flexShrink: 0 }}>
            {r.label}
          </Badge>
        </Tooltip>
      )}
      {r.detail && (
        <Text size="xs" c={strong ? undefined : 'dimmed'} lineClamp={2}>
          {r.detail}
        </Text>
      )}
    </Group>
  );
}

function RetryMarks({ run }: { run: RunView }) {
  if (!run.retryOf) return null;
  return (
    <Tooltip label={`A retry of failed run #${run.retryOf}`} withArrow>
      <Badge size="xs" radius="sm" variant="outline" color="indigo" data-field="retry-of" styles={{ label: { overflow: 'visible' } }}>
        retry of #{run.retryOf}
      </Badge>
    </Tooltip>
  );
}

function Note({ run, onRetry }: { run: RunView; onRetry?: (run: RunView) => void }) {
  return (
    <Stack gap={4} align="flex-start">
      <Group gap={8} wrap="nowrap">
        <DeliveriesSummary run={run} />
        <RetryButton run={run} onRetry={onRetry} />
      </Group>
      <Reason run={run} />
      <RetryMarks run={run} />
    </Stack>
  );
}

function TaskCell({ run }: { run: RunView }) {
  return (
    <Stack gap={0} style={{ minWidth: 0 }}>
      <Link className="table-link" to={`/tasks/${run.taskId}`} style={{ overflowWrap: 'break-word' }}>
        {run.taskName}
      </Link>
      {run.taskKey && (
        <Text size="xs" c="dimmed" ff="monospace" style={{ overflowWrap: 'anywhere' }} data-field="task-key">
          {run.taskKey}
        </Text>
      )}
    </Stack>
  );
}

function RetryButton({ run, onRetry }: { run: RunView; onRetry?: (run: RunView) => void }) {
  if (!onRetry || !isRetryable(run)) return null;
  return (
    <Button size="compact-xs" variant="light" color="indigo" leftSection={<IconRefresh size={12} />} onClick={() => onRetry(run)} aria-label={`Retry run #${run.id} of ${run.taskName}`}>
      Retry
    </Button>
  );
}

const startedEmpty = (run: RunView) => (run.status === 'skipped' ? 'not run' : run.status === 'pending' ? 'waiting' : '—');

interface RunsTableProps {
  runs: RunView[];
  /** hide the task column (a task's own history) */
  hideTask?: boolean;
  /** shows a Retry button on failed webhook runs */
  onRetry?: (run: RunView) => void;
}

/**
 * One row, memoised: TanStack Query keeps the objects of unchanged runs identical across
 * refetches, so a live update renders only the rows that arrived or changed.
 */
const RunRow = memo(function RunRow({ run, fresh, hideTask, onRetry }: { run: RunView; fresh: boolean; hideTask?: boolean; onRetry?: (run: RunView) => void }) {
  return (
    <Table.Tr className={fresh ? 'row-new' : undefined} data-run-id={run.id} data-status={run.status}>
      {!hideTask && (
        <Table.Td maw={220} miw={120}>
          <TaskCell run={run} />
        </Table.Td>
      )}
      <Table.Td data-field="scheduledFor">
        <Instant iso={run.scheduledFor} ms compact />
      </Table.Td>
      <Table.Td>
        <Lag run={run} />
      </Table.Td>
      <Table.Td data-field="startedAt">
        <Instant iso={run.startedAt} ms compact empty={startedEmpty(run)} />
      </Table.Td>
      <Table.Td>
        <RunBadges run={run} />
      </Table.Td>
      <Table.Td>
        <NodeId id={run.nodeId} />
      </Table.Td>
      <Table.Td maw={300}>
        <Note run={run} onRetry={onRetry} />
      </Table.Td>
    </Table.Tr>
  );
});

export function RunsTable({ runs, hideTask, onRetry }: RunsTableProps) {
  const fresh = useNewIds(runs);
  return (
    <Table.ScrollContainer minWidth={hideTask ? 760 : 900}>
      <Table verticalSpacing="xs" highlightOnHover aria-label="Executions">
        <Table.Thead>
          <Table.Tr>
            {!hideTask && <Table.Th>Task</Table.Th>}
            <Table.Th className="nowrap">Scheduled for</Table.Th>
            <Table.Th className="nowrap">
              <Tooltip label="Started − scheduled: when the work really began (for a webhook, when its first request went out)" withArrow multiline w={260}>
                <span>Lag</span>
              </Tooltip>
            </Table.Th>
            <Table.Th className="nowrap">Started at</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Node</Table.Th>
            <Table.Th>Attempts · note</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {runs.map((run) => (
            <RunRow key={run.id} run={run} fresh={fresh.has(run.id)} hideTask={hideTask} onRetry={onRetry} />
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

export function RunCards({ runs, hideTask, onRetry }: RunsTableProps) {
  const fresh = useNewIds(runs);
  return (
    <Stack gap="xs">
      {runs.map((run) => (
        <Card key={run.id} withBorder padding="sm" className={fresh.has(run.id) ? 'row-new' : undefined} data-run-id={run.id} data-status={run.status}>
          <Group justify="space-between" wrap="nowrap" align="flex-start">
            {hideTask ? <Instant iso={run.scheduledFor} ms compact /> : <TaskCell run={run} />}
            <RunBadges run={run} />
          </Group>
          <Group gap="lg" mt={6} align="flex-start">
            {!hideTask && (
              <Stack gap={0} data-field="scheduledFor">
                <Text size="xs" c="dimmed">Scheduled</Text>
                <Instant iso={run.scheduledFor} ms compact />
              </Stack>
            )}
            <Stack gap={0}>
              <Text size="xs" c="dimmed">Lag</Text>
              <Lag run={run} />
            </Stack>
            <Stack gap={0} data-field="startedAt">
              <Text size="xs" c="dimmed">Started</Text>
              <Instant iso={run.startedAt} ms compact empty={startedEmpty(run)} />
            </Stack>
          </Group>
          <Group mt={6}>
            <Note run={run} onRetry={onRetry} />
          </Group>
        </Card>
      ))}
    </Stack>
  );
}
