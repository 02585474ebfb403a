// Executions: the log of every run, newest first. Page one follows the event stream; older
// pages hold still so rows don't move under the reader.
import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { Group, Paper, Select, Text } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import type { RunStatus } from '../../shared/schemas';
import { useRuns } from '../api/runs';
import { useTask, useTasks } from '../api/tasks';
import { PageHeader } from '../components/PageHeader';
import { Pager, useCursorPages } from '../components/Pager';
import { RunCards, RunsTable } from '../components/RunsTable';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { TimeModeToggle } from '../components/TimeMode';

const PAGE_SIZE = 50;

const STATUSES: { value: RunStatus; label: string }[] = [
  { value: 'succeeded', label: 'Succeeded' },
  { value: 'failed', label: 'Failed' },
  { value: 'skipped', label: 'Skipped' },
  { value: 'running', label: 'Running' },
  { value: 'pending', label: 'Pending' },
];

function TaskFilter({ value, onChange }: { value: string | null; onChange: (id: string | null) => void }) {
  const [search, setSearch] = useState('');
  const [debounced] = useDebouncedValue(search, 250);
  const tasks = useTasks({ q: debounced.trim() || undefined, limit: 50 });
  const selected = useTask(value ?? undefined);
  const options = new Map<string, string>();
  if (value && selected.data) options.set(value, selected.data.name);
  for (const task of tasks.data?.items ?? []) options.set(task.id, task.name);
  return (
    <Select
      label="Task"
      placeholder="All tasks"
      searchable
      clearable
      nothingFoundMessage={tasks.isFetching ? 'Searching…' : 'No task with that name'}
      data={[...options].map(([id, name]) => ({ value: id, label: name }))}
      value={value}
      onChange={onChange}
      searchValue={search}
      onSearchChange={setSearch}
      filter={({ options }) => options}
      style={{ flex: '1 1 240px' }}
    />
  );
}

export function ExecutionsRoute() {
  const [params, setParams] = useSearchParams();
  const taskId = params.get('taskId') || undefined;
  const status = (params.get('status') || undefined) as RunStatus | undefined;
  const pages = useCursorPages();
  const phone = useMediaQuery('(max-width: 48em)');
  const { reset } = pages;
  useEffect(reset, [taskId, status, reset]);

  const query = useRuns({ taskId, status, limit: PAGE_SIZE, cursor: pages.cursor });

  const setParam = (key: string, value: string | null) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set(key, value);
        else next.delete(key);
        return next;
      },
      { replace: true },
    );

  return (
    <>
      <PageHeader
        title="Executions"
        description="Every execution, newest first, with the exact time it ran. Updates live as tasks fire."
      />
      <Paper withBorder p="md" radius="md">
        <Group gap="sm" mb="md" align="flex-end">
          <TaskFilter value={taskId ?? null} onChange={(id) => setParam('taskId', id)} />
          <Select
            label="Status"
            placeholder="Any status"
            clearable
            data={STATUSES}
            value={status ?? null}
            onChange={(v) => setParam('status', v)}
            style={{ flex: '1 1 140px', maxWidth: 200 }}
          />
          <Group gap="xs" ml={{ base: 0, sm: 'auto' }} align="center">
            <Text size="sm" c="dimmed" visibleFrom="sm">
              Times in
            </Text>
            <TimeModeToggle />
          </Group>
        </Group>

        {query.isPending ? (
          <LoadingRows rows={8} height={30} />
        ) : query.isError && !query.data ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} />
        ) : query.data.items.length === 0 ? (
          taskId || status ? (
            <Empty title="No executions match" description="Nothing with these filters yet. New runs appear here as they happen." />
          ) : (
            <Empty title="No executions yet" description="Runs appear here the moment a task fires, on any node." />
          )
        ) : (
          <>
            {query.isError && <StaleNotice error={query.error} />}
            {phone ? <RunCards runs={query.data.items} /> : <RunsTable runs={query.data.items} />}
            <Pager page={pages.page} nextCursor={query.data.nextCursor} onNext={pages.next} onPrevious={pages.previous} label="time" />
          </>
        )}
      </Paper>
    </>
  );
}
