// The facts of a task's schedule, laid out as a definition list.
import type { ReactNode } from 'react';
import { Code, SimpleGrid, Stack, Text } from '@mantine/core';
import type { Task } from '../../shared/schemas';
import { RunStatusBadge } from './Badges';
import { formatDuration } from '../lib/time';
import { Instant } from './Instant';

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Stack gap={2} style={{ minWidth: 0 }}>
      <Text component="dt" size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text component="dd" m={0} size="sm" style={{ overflowWrap: 'anywhere' }}>
        {children}
      </Text>
    </Stack>
  );
}

function ActionFact({ action }: { action: Task['action'] }) {
  if (action.type !== 'webhook') return <>Log the run</>;
  return (
    <>
      Webhook{' '}
      <Code fz="xs">
        {action.method ?? 'POST'} {action.url}
      </Code>
      <Text span size="xs" c="dimmed">
        {' '}
        · {action.maxAttempts ?? 3} attempts · {((action.timeoutMs ?? 10_000) / 1000).toLocaleString()} s timeout
      </Text>
    </>
  );
}

const MISFIRE: Record<Task['misfirePolicy'], string> = {
  fire_once: 'Fire once, late, then continue',
  skip: 'Skip them (recorded as skipped)',
};

export function TaskSummary({ task }: { task: Task }) {
  const s = task.schedule;
  return (
    <SimpleGrid component="dl" cols={2} spacing="md" verticalSpacing="md" m={0}>
      {s.type === 'once' ? (
        <Fact label="Runs at">
          <Instant iso={s.at} relative />
        </Fact>
      ) : (
        <>
          <Fact label="Cron expression">
            <Code fz="sm">{s.expression}</Code>
          </Fact>
          <Fact label="Time zone">{s.timezone ?? 'UTC'}</Fact>
          <Fact label="Not before">{s.startAt ? <Instant iso={s.startAt} /> : 'no limit'}</Fact>
          <Fact label="Not after">{s.endAt ? <Instant iso={s.endAt} /> : 'no limit'}</Fact>
          <Fact label="If runs are missed">{MISFIRE[task.misfirePolicy]}</Fact>
          <Fact label="If the last run is still going">{task.overlapPolicy === 'skip' ? 'Skip this occurrence' : 'Run anyway'}</Fact>
        </>
      )}
      <Fact label="Action">
        <ActionFact action={task.action} />
      </Fact>
      {typeof task.maxLatenessMs === 'number' && (
        <Fact label="If it would start late">
          Skip it when more than {task.maxLatenessMs < 1000 ? `${task.maxLatenessMs} ms` : formatDuration(task.maxLatenessMs)} late (recorded as expired)
        </Fact>
      )}
      <Fact label="Next run">
        <Instant iso={task.nextRunAt} relative empty={task.state === 'paused' ? 'paused' : 'none'} />
      </Fact>
      <Fact label="Last run">
        {task.lastRun ? (
          <Stack gap={4} align="flex-start" component="span">
            <RunStatusBadge status={task.lastRun.status} />
            <Instant iso={task.lastRun.startedAt ?? task.lastRun.scheduledFor} ms />
          </Stack>
        ) : (
          'never ran'
        )}
      </Fact>
      <Fact label="Created">
        <Instant iso={task.createdAt} />
      </Fact>
      <Fact label="Updated">
        <Instant iso={task.updatedAt} />
        <Text span size="xs" c="dimmed">
          {' '}
          version {task.version}
        </Text>
      </Fact>
      <Fact label="Task id">
        <Code fz="xs">{task.id}</Code>
      </Fact>
      {task.key && (
        <Fact label="Key">
          <Code fz="xs" data-field="key">
            {task.key}
          </Code>
        </Fact>
      )}
    </SimpleGrid>
  );
}
