// The execution log. Rows that arrive while the table is on screen flash once, so a live
// update is visible without reading every timestamp.
import { useRef } from 'react';
import { Link } from 'react-router-dom';
import { Card, Group, Stack, Table, Text, Tooltip } from '@mantine/core';
import type { Run } from '../../shared/schemas';
import { formatLag } from '../lib/time';
import { RunBadges } from './Badges';
import { DeliveriesSummary } from './Deliveries';
import { Instant } from './Instant';

/** Ids not seen in earlier renders, once the table has rendered at least once. */
function useNewIds(runs: Run[]): Set<string> {
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

function Lag({ run }: { run: Run }) {
  return (
    <Text size="sm" ff="monospace" c={lagColor(run.lagMs)} className="nowrap">
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

function Note({ run }: { run: Run }) {
  // A delivered webhook's reason ("HTTP 200") only repeats the delivery summary.
  const reason = run.deliveries?.length && /^HTTP \d{3}$/.test(run.reason ?? '') ? null : run.reason;
  return (
    <Stack gap={2} align="flex-start">
      <DeliveriesSummary run={run} />
      {reason && (
        <Text size="xs" c="dimmed" lineClamp={2} title={reason}>
          {reason}
        </Text>
      )}
    </Stack>
  );
}

interface RunsTableProps {
  runs: Run[];
  /** hide the task column (a task's own history) */
  hideTask?: boolean;
}

export function RunsTable({ runs, hideTask }: RunsTableProps) {
  const fresh = useNewIds(runs);
  return (
    <Table.ScrollContainer minWidth={hideTask ? 760 : 900}>
      <Table verticalSpacing="xs" highlightOnHover aria-label="Executions">
        <Table.Thead>
          <Table.Tr>
            {!hideTask && <Table.Th>Task</Table.Th>}
            <Table.Th className="nowrap">Scheduled for</Table.Th>
            <Table.Th className="nowrap">Executed at</Table.Th>
            <Table.Th>Lag</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Node</Table.Th>
            <Table.Th ta="right">Attempt</Table.Th>
            <Table.Th>Note</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {runs.map((run) => (
            <Table.Tr key={run.id} className={fresh.has(run.id) ? 'row-new' : undefined} data-run-id={run.id} data-status={run.status}>
              {!hideTask && (
                <Table.Td maw={220} miw={120}>
                  <Link className="table-link" to={`/tasks/${run.taskId}`} style={{ overflowWrap: 'break-word' }}>
                    {run.taskName}
                  </Link>
                </Table.Td>
              )}
              <Table.Td>
                <Instant iso={run.scheduledFor} ms compact />
              </Table.Td>
              <Table.Td data-field="startedAt">
                <Instant iso={run.startedAt} ms compact empty={run.status === 'skipped' ? 'not run' : 'waiting'} />
              </Table.Td>
              <Table.Td>
                <Lag run={run} />
              </Table.Td>
              <Table.Td>
                <RunBadges run={run} />
              </Table.Td>
              <Table.Td>
                <NodeId id={run.nodeId} />
              </Table.Td>
              <Table.Td ta="right">
                <Text size="sm" ff="monospace">
                  {run.attempt}
                </Text>
              </Table.Td>
              <Table.Td maw={240}>
                <Note run={run} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

export function RunCards({ runs, hideTask }: RunsTableProps) {
  const fresh = useNewIds(runs);
  return (
    <Stack gap="xs">
      {runs.map((run) => (
        <Card key={run.id} withBorder padding="sm" className={fresh.has(run.id) ? 'row-new' : undefined} data-run-id={run.id} data-status={run.status}>
          <Group justify="space-between" wrap="nowrap" align="flex-start">
            {hideTask ? (
              <Instant iso={run.scheduledFor} ms />
            ) : (
              <Link className="table-link" to={`/tasks/${run.taskId}`} style={{ overflowWrap: 'break-word' }}>
                {run.taskName}
              </Link>
            )}
            <RunBadges run={run} />
          </Group>
          <Group gap="lg" mt={6}>
            <Stack gap={0}>
              <Text size="xs" c="dimmed">Executed</Text>
              <Instant iso={run.startedAt} ms empty={run.status === 'skipped' ? 'not run' : 'waiting'} />
            </Stack>
            <Stack gap={0}>
              <Text size="xs" c="dimmed">Lag</Text>
              <Lag run={run} />
            </Stack>
            <Stack gap={0} style={{ minWidth: 0 }}>
              <Text size="xs" c="dimmed">Node · attempt {run.attempt}</Text>
              <NodeId id={run.nodeId} />
            </Stack>
          </Group>
          <Note run={run} />
        </Card>
      ))}
    </Stack>
  );
}
