// Tasks: search, filters and pages live in the URL so a view can be shared or reloaded.
import { useEffect } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { Button, Group, Paper, Select, TextInput } from '@mantine/core';
import { useDebouncedValue, useMediaQuery } from '@mantine/hooks';
import type { Task, TaskState } from '../../shared/schemas';
import { useTasks } from '../api/tasks';
import { IconPlus, IconSearch } from '../components/icons';
import { PageHeader } from '../components/PageHeader';
import { Pager, useCursorPages } from '../components/Pager';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { TaskCards, TasksTable } from '../components/TasksTable';

const PAGE_SIZE = 25;

export function TasksRoute() {
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const state = (params.get('state') || undefined) as TaskState | undefined;
  const kind = (params.get('kind') || undefined) as Task['kind'] | undefined;
  const [debouncedQ] = useDebouncedValue(q, 250);
  const pages = useCursorPages();
  const phone = useMediaQuery('(max-width: 48em)');

  const { reset } = pages;
  useEffect(reset, [debouncedQ, state, kind, reset]);

  const query = useTasks({ q: debouncedQ.trim() || undefined, state, kind, limit: PAGE_SIZE, cursor: pages.cursor });
  const filtered = Boolean(debouncedQ.trim() || state || kind);

  const setParam = (key: string, value: string | null) => {
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set(key, value);
        else next.delete(key);
        return next;
      },
      { replace: true },
    );
  };

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
                <Button variant="default" onClick={() => setParams({}, { replace: true })}>
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
    </>
  );
}
