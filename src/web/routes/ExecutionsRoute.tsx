// Executions: what ran comes first, newest first; runs claimed ahead of their instant wait
// under "Upcoming" instead of pushing the log below the fold. Page one follows the event
// stream; older pages hold still so rows don't move under the reader.
import { useEffect, useState } from 'react';
import { Badge, Button, CloseButton, Group, Paper, SegmentedControl, Select, Text, TextInput } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import type { RunStatus } from '../../shared/schemas';
import { isApiError } from '../api/client';
import { isRetryable, useRetryMany, useRetryRun, useRuns, type RunSection, type RunView } from '../api/runs';
import { useTask, useTasks } from '../api/tasks';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { IconSearch } from '../components/icons';
import { Instant } from '../components/Instant';
import { PageHeader } from '../components/PageHeader';
import { Pager, useCursorPages } from '../components/Pager';
import { RunCards, RunsTable } from '../components/RunsTable';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { TimeModeToggle } from '../components/TimeMode';
import { useUrlFilters } from '../lib/useUrlFilters';

const PAGE_SIZE = 50;
/** how many claimed-ahead runs the Upcoming tab counts before saying "100+" */
const UPCOMING_COUNT_LIMIT = 100;

const STATUSES: { value: RunStatus; label: string }[] = [
  { value: 'succeeded', label: 'Succeeded' },
  { value: 'failed', label: 'Failed' },
  { value: 'skipped', label: 'Skipped' },
  { value: 'running', label: 'Running' },
  { value: 'pending', label: 'Waiting (due, not started)' },
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
      style={{ flex: '1 1 220px' }}
    />
  );
}

/** Confirms a redrive of a failed webhook run; the new run then shows up live at the top. */
function RetryDialog({ run, onClose }: { run: RunView | null; onClose: () => void }) {
  const retry = useRetryRun();
  const last = run?.deliveries?.[run.deliveries.length - 1];
  const confirm = () => {
    if (!run) return;
    retry.mutate(run.id, {
      onSuccess: (created) => {
        notifications.show({ color: 'teal', title: 'Retry started', message: `Run #${created.id} redrives #${run.id}; its attempts appear here as they happen.` });
        onClose();
      },
    });
  };
  useEffect(() => {
    if (!run) retry.reset();
  }, [run]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <ConfirmDialog
      opened={run !== null}
      onClose={onClose}
      title="Retry this delivery?"
      error={retry.isError && (isApiError(retry.error) && retry.error.code === 'RETRY_IN_PROGRESS' ? 'A retry of this run is already pending or running.' : retry.error.message)}
      confirmLabel="Retry now"
      confirmColor="indigo"
      onConfirm={confirm}
      pending={retry.isPending}
      focusConfirm
    >
      {run && (
        <>
          <Text size="sm">
            <b>{run.taskName}</b> failed after {run.deliveries?.length ?? 0} attempt{run.deliveries?.length === 1 ? '' : 's'}
            {last ? ` (last: ${last.statusCode !== undefined ? `HTTP ${last.statusCode}` : (last.error ?? 'no response')})` : ''}.
          </Text>
          <Text size="sm">
            A new run is created now and delivered again with the same payload. The failed run #{run.id} stays in the log.
          </Text>
          <Group gap={6}>
            <Text size="xs" c="dimmed">
              Originally scheduled for
            </Text>
            <Instant iso={run.scheduledFor} ms size="xs" />
          </Group>
        </>
      )}
    </ConfirmDialog>
  );
}

const RETRY_MANY_LIMIT = 100;

/** Redrives every failed webhook run of the filtered task or origin (the newest 100). */
function RetryManyDialog({ scope, shown, opened, onClose }: { scope: { taskId?: string; origin?: string; label: string }; shown: number; opened: boolean; onClose: () => void }) {
  const retry = useRetryMany();
  useEffect(() => {
    if (!opened) retry.reset();
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  const confirm = () =>
    retry.mutate(
      { taskId: scope.taskId, origin: scope.origin, limit: RETRY_MANY_LIMIT },
      {
        onSuccess: ({ retried }) => {
          notifications.show({ color: 'teal', title: `Retried ${retried} run${retried === 1 ? '' : 's'}`, message: scope.label });
          onClose();
        },
      },
    );
  return (
    <ConfirmDialog
      opened={opened}
      onClose={onClose}
      title="Retry the failed deliveries?"
      error={retry.isError && retry.error.message}
      confirmLabel="Retry them"
      confirmColor="indigo"
      onConfirm={confirm}
      pending={retry.isPending}
    >
      <Text size="sm">
        Every failed webhook run of {scope.label} that is not already being retried gets a new run, delivered now; the newest{' '}
        {RETRY_MANY_LIMIT} at most. This page shows {shown} of them.
      </Text>
    </ConfirmDialog>
  );
}

export function ExecutionsRoute() {
  const { params, setParam } = useUrlFilters();
  const taskId = params.get('taskId') || undefined;
  const status = (params.get('status') || undefined) as RunStatus | undefined;
  const origin = params.get('origin') || undefined;
  const keyPrefixParam = params.get('keyPrefix') ?? '';
  const section: RunSection = params.get('view') === 'upcoming' ? 'upcoming' : 'executed';
  const [keyPrefixDebounced] = useDebouncedValue(keyPrefixParam.trim(), 300);
  const keyPrefix = keyPrefixDebounced || undefined;
  const pages = useCursorPages();
  const phone = useMediaQuery('(max-width: 48em)');
  const [retrying, setRetrying] = useState<RunView | null>(null);
  const [retryingMany, setRetryingMany] = useState(false);
  const { reset } = pages;
  useEffect(reset, [taskId, status, origin, keyPrefix, section, reset]);

  const filters = { taskId, keyPrefix, origin };
  const query = useRuns(
    { ...filters, status: section === 'executed' ? status : undefined, limit: PAGE_SIZE, cursor: pages.cursor },
    { section },
  );
  // the count on the Upcoming tab; shares its cache entry with that tab's first page only in shape
  const upcoming = useRuns({ ...filters, limit: UPCOMING_COUNT_LIMIT }, { section: 'upcoming', enabled: section === 'executed' });
  const upcomingCount = section === 'upcoming' && pages.page === 0 ? query.data?.items.length : upcoming.data?.items.length;
  const upcomingLabel = upcomingCount === undefined ? '' : upcomingCount >= UPCOMING_COUNT_LIMIT ? ` (${UPCOMING_COUNT_LIMIT}+)` : ` (${upcomingCount})`;

  // Both sections keep the API's order (latest instant first) so the pages stay coherent.
  const items = query.data?.items ?? [];
  const filtered = Boolean(taskId || status || keyPrefix || origin);
  // Bulk redrive is offered for one task or one origin, when failed runs are on screen.
  const retryable = items.filter(isRetryable).length;
  const retryScope =
    section === 'executed' && status === 'failed' && (origin || taskId)
      ? { origin, taskId: origin ? undefined : taskId, label: origin ? `origin ${origin}` : 'this task' }
      : null;

  return (
    <>
      <PageHeader
        title="Executions"
        description="What ran, newest first: when it was due, how late it really started, and how it went. Updates live as tasks fire."
      />
      <Paper withBorder p="md" radius="md">
        <Group gap="sm" mb="sm" justify="space-between">
          <SegmentedControl
            value={section}
            onChange={(v) => setParam('view', v === 'upcoming' ? 'upcoming' : null)}
            data={[
              { value: 'executed', label: 'Executed' },
              { value: 'upcoming', label: `Upcoming${upcomingLabel}` },
            ]}
            aria-label="Which runs"
          />
          <Group gap="xs" align="center">
            <Text size="sm" c="dimmed" visibleFrom="sm">
              Times in
            </Text>
            <TimeModeToggle />
          </Group>
        </Group>
        <Group gap="sm" mb="md" align="flex-end">
          <TaskFilter value={taskId ?? null} onChange={(id) => setParam('taskId', id)} />
          <TextInput
            label="Key prefix"
            placeholder="e.g. user-42/"
            leftSection={<IconSearch size={16} />}
            value={keyPrefixParam}
            onChange={(e) => setParam('keyPrefix', e.currentTarget.value)}
            style={{ flex: '1 1 180px' }}
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            type="search"
          />
          {section === 'executed' && (
            <Select
              label="Status"
              placeholder="Any status"
              clearable
              data={STATUSES}
              value={status ?? null}
              onChange={(v) => setParam('status', v)}
              style={{ flex: '1 1 140px', maxWidth: 220 }}
            />
          )}
        </Group>
        {origin && (
          <Group gap={6} mb="sm" justify="space-between">
            <Badge variant="light" radius="sm" size="lg" tt="none" rightSection={<CloseButton size="xs" aria-label="Clear the origin filter" onClick={() => setParam('origin', null)} />}>
              <Text span size="sm" ff="monospace">
                origin {origin}
              </Text>
            </Badge>
            {retryScope && retryable > 0 && (
              <Button size="xs" variant="light" color="indigo" onClick={() => setRetryingMany(true)}>
                Retry failed runs…
              </Button>
            )}
          </Group>
        )}
        {!origin && retryScope && retryable > 0 && (
          <Group justify="flex-end" mb="sm">
            <Button size="xs" variant="light" color="indigo" onClick={() => setRetryingMany(true)}>
              Retry failed runs of this task…
            </Button>
          </Group>
        )}
        {section === 'upcoming' && (
          <Text size="sm" c="dimmed" mb="sm">
            Occurrences a node has claimed ahead of their time (the next few seconds); each fires at its instant. Latest first, like the log.
          </Text>
        )}

        {query.isPending ? (
          <LoadingRows rows={8} height={30} />
        ) : query.isError && !query.data ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} />
        ) : items.length === 0 ? (
          section === 'upcoming' ? (
            <Empty title="Nothing claimed ahead" description="Runs appear here a few seconds before their time, once a node has claimed them." />
          ) : filtered ? (
            <Empty title="No executions match" description="Nothing with these filters yet. New runs appear here as they happen." />
          ) : (
            <Empty title="No executions yet" description="Runs appear here the moment a task fires, on any node." />
          )
        ) : (
          <>
            {query.isError && <StaleNotice error={query.error} />}
            {phone ? <RunCards runs={items} onRetry={setRetrying} /> : <RunsTable runs={items} onRetry={setRetrying} />}
            <Pager page={pages.page} nextCursor={query.data.nextCursor} onNext={pages.next} onPrevious={pages.previous} label={section === 'upcoming' ? undefined : 'time'} />
          </>
        )}
      </Paper>
      <RetryDialog run={retrying} onClose={() => setRetrying(null)} />
      {retryScope && <RetryManyDialog scope={retryScope} shown={retryable} opened={retryingMany} onClose={() => setRetryingMany(false)} />}
    </>
  );
}
