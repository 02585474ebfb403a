// One task: its schedule, the next occurrences, its run history, and what you can do to it.
import { Link, useNavigate, useParams } from 'react-router-dom';
import { Button, Card, Code, Grid, ScrollArea, Stack, Text, Title } from '@mantine/core';
import { useDisclosure, useMediaQuery } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import type { PreviewQuery, Task } from '../../shared/schemas';
import { usePreview } from '../api/schedules';
import { useRuns } from '../api/runs';
import { useDeleteTask, useTask, useTaskAction, useTriggerTask } from '../api/tasks';
import { KindBadge, TaskStateBadge } from '../components/Badges';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { IconArrowLeft, IconBolt, IconEdit, IconPause, IconPlay, IconTrash } from '../components/icons';
import { Instant } from '../components/Instant';
import { PageHeader } from '../components/PageHeader';
import { Pager, useCursorPages } from '../components/Pager';
import { RunCards, RunsTable } from '../components/RunsTable';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { SchedulePreview } from '../components/task-form/SchedulePreview';
import { TaskSummary } from '../components/TaskSummary';

function failed(title: string) {
  return (error: Error) => notifications.show({ color: 'red', title, message: error.message });
}

function Actions({ task, onDelete }: { task: Task; onDelete: () => void }) {
  const action = useTaskAction(task.id);
  const trigger = useTriggerTask(task.id);
  const paused = task.state === 'paused';
  return (
    <>
      <Button
        variant="default"
        leftSection={<IconBolt size={16} />}
        loading={trigger.isPending}
        onClick={() =>
          trigger.mutate(undefined, {
            onSuccess: () => notifications.show({ color: 'teal', title: 'Run started', message: `${task.name} runs now; see the history below.` }),
            onError: failed('Could not start a run'),
          })
        }
      >
        Run now
      </Button>
      {task.state !== 'completed' && (
        <Button
          variant="default"
          leftSection={paused ? <IconPlay size={16} /> : <IconPause size={16} />}
          loading={action.isPending}
          onClick={() =>
            action.mutate(paused ? 'resume' : 'pause', {
              onSuccess: (t) =>
                notifications.show({ title: paused ? 'Resumed' : 'Paused', message: paused ? `${t.name} fires again on schedule.` : `${t.name} will not fire until resumed.` }),
              onError: failed(paused ? 'Could not resume' : 'Could not pause'),
            })
          }
        >
          {paused ? 'Resume' : 'Pause'}
        </Button>
      )}
      <Button component={Link} to={`/tasks/${task.id}/edit`} variant="default" leftSection={<IconEdit size={16} />}>
        Edit
      </Button>
      <Button color="red" variant="light" leftSection={<IconTrash size={16} />} onClick={onDelete}>
        Delete
      </Button>
    </>
  );
}

function DeleteDialog({ task, opened, onClose }: { task: Task; opened: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const remove = useDeleteTask(task.id);
  return (
    <ConfirmDialog
      opened={opened}
      onClose={onClose}
      title={<Text fw={700}>Delete this task?</Text>}
      confirmLabel="Delete task"
      confirmColor="red"
      pending={remove.isPending}
      onConfirm={() =>
        remove.mutate(undefined, {
          onSuccess: () => {
            notifications.show({ color: 'teal', title: 'Task deleted', message: task.name });
            navigate('/tasks');
          },
          onError: failed('Could not delete'),
        })
      }
    >
      <Text size="sm">
        <b>{task.name}</b> will stop firing and disappear from the task list. This cannot be undone.
      </Text>
    </ConfirmDialog>
  );
}

function Upcoming({ task }: { task: Task }) {
  const s = task.schedule;
  const query: PreviewQuery | null =
    s.type === 'cron' && task.state !== 'completed'
      ? { expression: s.expression, timezone: s.timezone ?? 'UTC', count: 8, ...(s.endAt ? { endAt: s.endAt } : {}), ...(s.startAt && Date.parse(s.startAt) > Date.now() ? { startAt: s.startAt } : {}) }
      : null;
  const preview = usePreview(query);
  if (s.type === 'once') {
    return task.state === 'completed' ? (
      <Text size="sm" c="dimmed">
        This one-time task has run; it will not run again unless you reschedule it.
      </Text>
    ) : (
      <Stack gap={4}>
        <Instant iso={s.at} relative />
        {task.state === 'paused' && (
          <Text size="sm" c="dimmed">
            Paused: it will not fire until resumed.
          </Text>
        )}
      </Stack>
    );
  }
  if (task.state === 'completed') {
    return (
      <Text size="sm" c="dimmed">
        The schedule has ended; nothing more will run.
      </Text>
    );
  }
  return (
    <Stack gap="xs">
      {task.state === 'paused' && (
        <Text size="sm" c="orange">
          Paused. These are the times it would run once resumed.
        </Text>
      )}
      {preview.isError ? (
        <Text size="sm" c="red">
          {preview.error.message}
        </Text>
      ) : (
        <SchedulePreview preview={preview.data} loading={preview.isFetching} invalid={false} />
      )}
    </Stack>
  );
}

function History({ taskId }: { taskId: string }) {
  const pages = useCursorPages();
  const phone = useMediaQuery('(max-width: 48em)');
  // what ran; occurrences claimed ahead are in the schedule preview above
  const runs = useRuns({ taskId, limit: 20, cursor: pages.cursor }, { section: 'executed' });
  if (runs.isPending) return <LoadingRows rows={4} height={30} />;
  if (runs.isError && !runs.data) return <ErrorState error={runs.error} onRetry={() => void runs.refetch()} />;
  if (runs.data.items.length === 0) return <Empty title="No runs yet" description="Runs show up here as soon as the task fires, or when you press Run now." />;
  return (
    <>
      {runs.isError && <StaleNotice error={runs.error} />}
      {phone ? <RunCards runs={runs.data.items} hideTask /> : <RunsTable runs={runs.data.items} hideTask />}
      <Pager page={pages.page} nextCursor={runs.data.nextCursor} onNext={pages.next} onPrevious={pages.previous} label="time" />
    </>
  );
}

export function TaskDetailRoute() {
  const { id = '' } = useParams();
  const task = useTask(id);
  const [deleting, { open, close }] = useDisclosure(false);

  const back = (
    <Button component={Link} to="/tasks" variant="subtle" size="compact-sm" leftSection={<IconArrowLeft size={14} />} mb="xs">
      Tasks
    </Button>
  );
  if (task.isPending) {
    return (
      <>
        {back}
        <LoadingRows rows={4} height={80} />
      </>
    );
  }
  if (task.isError && !task.data) {
    return (
      <>
        {back}
        <PageHeader title="Task" />
        <ErrorState
          error={task.error}
          onRetry={() => void task.refetch()}
          action={
            <Button component={Link} to="/tasks" variant="default">
              All tasks
            </Button>
          }
        />
      </>
    );
  }
  const t = task.data;
  return (
    <>
      {back}
      <PageHeader
        title={t.name}
        badges={
          <>
            <KindBadge kind={t.kind} />
            <TaskStateBadge state={t.state} />
          </>
        }
        description={t.description}
        actions={<Actions task={t} onDelete={open} />}
      />
      {task.isError && <StaleNotice error={task.error} />}
      <Grid gap="md">
        <Grid.Col span={{ base: 12, md: 7 }}>
          <Card withBorder radius="md" padding="lg" h="100%">
            <Title order={3} size="h5" mb="md">
              Schedule
            </Title>
            <TaskSummary task={t} />
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Card withBorder radius="md" padding="lg" h="100%">
            <Title order={3} size="h5" mb="md">
              Upcoming
            </Title>
            <Upcoming task={t} />
          </Card>
        </Grid.Col>
        {t.payload !== null && t.payload !== undefined && (
          <Grid.Col span={12}>
            <Card withBorder radius="md" padding="lg">
              <Title order={3} size="h5" mb="sm">
                Payload
              </Title>
              <ScrollArea.Autosize mah={240}>
                <Code block>{JSON.stringify(t.payload, null, 2)}</Code>
              </ScrollArea.Autosize>
            </Card>
          </Grid.Col>
        )}
        <Grid.Col span={12}>
          <Card withBorder radius="md" padding="lg">
            <Title order={3} size="h5" mb="md">
              Run history
            </Title>
            <History taskId={t.id} />
          </Card>
        </Grid.Col>
      </Grid>
      <DeleteDialog task={t} opened={deleting} onClose={close} />
    </>
  );
}
