// Tasks: search, filters and pages live in the URL so a view can be shared or reloaded.
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { Button, Code, Group, Paper, Select, Text, TextInput } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import type { Task, TaskState } from '../../shared/schemas';
import { useCancelByPrefix, useTaskPrefixCount, useTasks } from '../api/tasks';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { IconPlus, IconSearch, IconTrash } from '../components/icons';
import { PageHeader } from '../components/PageHeader';
import { Pager, useCursorPages } from '../components/Pager';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { TaskCards, TasksTable } from '../components/TasksTable';
import { useUrlFilters } from '../lib/useUrlFilters';

const PAGE_SIZE = 25;

const plural = (n: number) => `${n.toLocaleString()} task${n === 1 ? '' : 's'}`;

/**
 * Cancel every task whose key starts with a prefix. The dialog asks the server how many
 * that is when it opens and names the number before anything is cancelled; the confirm
 * button stays disabled until it knows.
 */
function CancelByPrefixDialog({ keyPrefix, opened, onClose }: { keyPrefix: string; opened: boolean; onClose: () => void }) {
  const count = useTaskPrefixCount(keyPrefix, opened);
  const cancel = useCancelByPrefix();
  useEffect(() => {
    if (!opened) cancel.reset();
  }, [opened]); // eslint-disable-line react-hooks/exhaustive-deps
  const n = count.data;
  const confirm = () =>
    cancel.mutate(keyPrefix, {
      onSuccess: ({ cancelled }) => {
        notifications.show({ color: 'teal', title: `Cancelled ${plural(cancelled)}`, message: `Key prefix ${keyPrefix}` });
        onClose();
      },
    });
  return (
    <ConfirmDialog
      opened={opened}
      onClose={onClose}
      title="Cancel tasks by key prefix"
      error={cancel.isError && cancel.error.message}
      keepLabel="Keep them"
      confirmLabel={typeof n === 'number' ? `Cancel ${plural(n)}` : 'Cancel tasks'}
      confirmColor="red"
      onConfirm={confirm}
      pending={cancel.isPending}
      disabled={typeof n !== 'number' || n === 0}
    >
      {count.isPending ? (
        <Text size="sm">Counting the tasks whose key starts with <Code>{keyPrefix}</Code>…</Text>
      ) : count.isError ? (
        <Text size="sm" c="red" role="alert">
          Could not count them: {count.error.message}
        </Text>
      ) : n === null || n === undefined ? (
        <Text size="sm" c="red" role="alert">
          The server did not say how many tasks match, so nothing will be cancelled from here.
        </Text>
      ) : (
        <Text size="sm" data-testid="cancel-count" data-count={n}>
          This cancels <b>{plural(n)}</b> whose key starts with <Code>{keyPrefix}</Code>. None of their future occurrences will run;
          their past runs stay in the log. This cannot be undone.
        </Text>
      )}
    </ConfirmDialog>
  );
}

export function TasksRoute() {
  const { params, setParam, clear } = useUrlFilters();
  const q = params.get('q') ?? '';
  const keyPrefixParam = params.get('keyPrefix') ?? '';
  const state = (params.get('state') || undefined) as TaskState | undefined;
  const kind = (params.get('kind') || undefined) as Task['kind'] | undefined;
  const [debouncedQ] = useDebouncedValue(q, 250);
  const [debouncedPrefix] = useDebouncedValue(keyPrefixParam.trim(), 250);
  const keyPrefix = debouncedPrefix || undefined;
  const [cancelling, setCancelling] = useState(false);
  const pages = useCursorPages();
  const phone = useMediaQuery('(max-width: 48em)');

  const { reset } = pages;
  useEffect(reset, [debouncedQ, keyPrefix, state, kind, reset]);

  const query = useTasks({ q: debouncedQ.trim() || undefined, keyPrefix, count: keyPrefix ? true : undefined, state, kind, limit: PAGE_SIZE, cursor: pages.cursor });
  const filtered = Boolean(debouncedQ.trim() || keyPrefix || state || kind);
  const total = keyPrefix ? query.data?.total : undefined;

  return (
    <>
      <PageHeader
        title="Tasks"
        description="Every scheduled task, its next run and how its last run went."
        actions={
          <Button component={Link} to="/tasks/new" leftSection={<IconPlus size={16} />}>
            New task
          </Button>
        }
      />
      <Paper withBorder p="md" radius="md">
        <Group gap="sm" mb="md" align="flex-end">
          <TextInput
            label="Search"
            placeholder="Task name"
            leftSection={<IconSearch size={16} />}
            value={q}
            onChange={(e) => setParam('q', e.currentTarget.value)}
            style={{ flex: '1 1 220px' }}
            type="search"
          />
          <TextInput
            label="Key prefix"
            placeholder="e.g. user-42/"
            value={keyPrefixParam}
            onChange={(e) => setParam('keyPrefix', e.currentTarget.value)}
            style={{ flex: '1 1 180px' }}
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            type="search"
          />
          <Select
            label="State"
            placeholder="Any state"
            clearable
            data={[
              { value: 'active', label: 'Active' },
              { value: 'paused', label: 'Paused' },
              { value: 'completed', label: 'Completed' },
            ]}
            value={state ?? null}
            onChange={(v) => setParam('state', v)}
            style={{ flex: '1 1 140px', maxWidth: 200 }}
          />
          <Select
            label="Kind"
            placeholder="Any kind"
            clearable
            data={[
              { value: 'once', label: 'One-time' },
              { value: 'cron', label: 'Recurring' },
            ]}
            value={kind ?? null}
            onChange={(v) => setParam('kind', v)}
            style={{ flex: '1 1 140px', maxWidth: 200 }}
          />
        </Group>

        {keyPrefix && (
          <Group justify="space-between" mb="sm" gap="xs">
            <Text size="sm" c="dimmed" data-testid="prefix-total">
              {typeof total === 'number' ? (
                <>
                  {plural(total)} with a key starting <Code>{keyPrefix}</Code>
                  {state || kind || debouncedQ.trim() ? ' and matching the other filters' : ''}
                </>
              ) : (
                <>Keys starting <Code>{keyPrefix}</Code></>
              )}
            </Text>
            <Button variant="light" color="red" size="xs" leftSection={<IconTrash size={14} />} onClick={() => setCancelling(true)}>
              Cancel by prefix…
            </Button>
          </Group>
        )}
        {query.isPending ? (
          <LoadingRows />
        ) : query.isError && !query.data ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} />
        ) : query.data.items.length === 0 ? (
          filtered ? (
            <Empty
              title="No tasks match"
              description="Try another name, or clear the filters."
              action={
                <Button variant="default" onClick={clear}>
                  Clear filters
                </Button>
              }
            />
          ) : pages.page > 0 ? (
            <Empty title="No more tasks" action={<Button variant="default" onClick={pages.reset}>Back to the first page</Button>} />
          ) : (
            <Empty
              title="No tasks yet"
              description="Schedule a reminder for later, or a recurring job with cron."
              action={
                <Button component={Link} to="/tasks/new" leftSection={<IconPlus size={16} />}>
                  Create your first task
                </Button>
              }
            />
          )
        ) : (
          <>
            {query.isError && <StaleNotice error={query.error} />}
            {phone ? <TaskCards tasks={query.data.items} /> : <TasksTable tasks={query.data.items} />}
            <Pager page={pages.page} nextCursor={query.data.nextCursor} onNext={pages.next} onPrevious={pages.previous} />
          </>
        )}
      </Paper>
      {keyPrefix && <CancelByPrefixDialog keyPrefix={keyPrefix} opened={cancelling} onClose={() => setCancelling(false)} />}
    </>
  );
}
