// Create (/tasks/new) or edit (/tasks/:id/edit) a task. Holds the form state, asks the
// server for a live preview of the schedule, submits, and puts the server's errors beside
// the fields they name.
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { Anchor, Button, Group, Text } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import type { PreviewQuery, Task } from '../../shared/schemas';
import { isApiError } from '../api/client';
import { usePreview } from '../api/schedules';
import { useCreateTask, useTask, useUpdateTask } from '../api/tasks';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, LoadingRows } from '../components/States';
import { TaskForm } from '../components/task-form/TaskForm';
import {
  emptyFormValues,
  formFieldForPath,
  formValuesFromTask,
  toTaskCreate,
  toTaskPatch,
  validateLocally,
  type FormErrors,
  type FormField,
  type TaskFormValues,
} from '../components/task-form/model';
import { zonedWallTimeToInstant } from '../lib/time';
import { LIMITS } from '../lib/limits';
import { IconArrowLeft } from '../components/icons';

/** Which inputs a value feeds, so editing it clears the server's complaint about it. */
const FIELD_OF: Partial<Record<keyof TaskFormValues, FormField>> = {
  name: 'name',
  date: 'at',
  time: 'at',
  onceZone: 'onceZone',
  runImmediatelyIfPast: 'at',
  expression: 'expression',
  cronZone: 'cronZone',
  startAt: 'startAt',
  endAt: 'endAt',
  payload: 'payload',
  misfirePolicy: 'misfirePolicy',
  overlapPolicy: 'overlapPolicy',
  action: 'action',
  webhookUrl: 'webhookUrl',
  webhookMethod: 'webhookMethod',
  webhookHeaders: 'webhookHeaders',
  webhookBody: 'webhookBody',
  webhookTimeoutMs: 'webhookTimeoutMs',
  webhookMaxAttempts: 'webhookMaxAttempts',
};

function previewQuery(values: TaskFormValues, now: number): PreviewQuery | null {
  if (values.kind !== 'cron' || !values.expression.trim()) return null;
  const query: PreviewQuery = { expression: values.expression.trim(), timezone: values.cronZone, count: Math.min(8, LIMITS.previewMaxCount) };
  const start = values.startAt ? zonedWallTimeToInstant(values.startAt, values.cronZone) : null;
  if (start && start.getTime() > now) query.startAt = start.toISOString();
  const end = values.endAt ? zonedWallTimeToInstant(values.endAt, values.cronZone) : null;
  if (end) query.endAt = end.toISOString();
  return query;
}

function FormPage({ task }: { task?: Task }) {
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const mode = task ? 'edit' : 'create';
  const [values, setValues] = useState<TaskFormValues>(() => {
    if (task) return formValuesFromTask(task, Date.now());
    const initial = emptyFormValues(Date.now());
    return search.get('kind') === 'cron' ? { ...initial, kind: 'cron' } : initial;
  });
  const [errors, setErrors] = useState<FormErrors>({});
  const [generalError, setGeneralError] = useState<React.ReactNode | null>(null);
  const [attempt, setAttempt] = useState(0);
  const create = useCreateTask();
  const update = useUpdateTask(task?.id ?? '');
  const mutation = task ? update : create;

  // Live preview of the recurring schedule, 300 ms after typing stops.
  const [debounced] = useDebouncedValue(values, 300);
  const query = useMemo(() => previewQuery(debounced, Date.now()), [debounced]);
  const preview = usePreview(query);
  const previewError = preview.isError && isApiError(preview.error) && preview.error.status === 400 ? preview.error : null;
  const previewField = previewError ? (formFieldForPath(previewError.field, 'cron') ?? 'expression') : null;
  const shownErrors: FormErrors = { ...errors };
  if (values.kind === 'cron' && previewError && previewField && !shownErrors[previewField] && query?.expression === values.expression.trim()) {
    shownErrors[previewField] = previewError.message;
  }

  // After a failed submit, take keyboard focus to the first field that needs attention.
  const formRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (attempt === 0) return;
    const invalid = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"], [role="alert"]');
    invalid?.focus();
    invalid?.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }, [attempt]);

  const onChange = (patch: Partial<TaskFormValues>) => {
    setValues((v) => ({ ...v, ...patch }));
    const touched = new Set(Object.keys(patch).map((k) => FIELD_OF[k as keyof TaskFormValues]));
    if ('kind' in patch) {
      setErrors({});
      setGeneralError(null);
    } else if ([...touched].some((f) => f && errors[f])) {
      setErrors((e) => Object.fromEntries(Object.entries(e).filter(([f]) => !touched.has(f as FormField))));
    }
  };

  const onSubmit = () => {
    setGeneralError(null);
    const local = validateLocally(values);
    if (Object.keys(local).length > 0) {
      setErrors(local);
      setAttempt((n) => n + 1);
      return;
    }
    setErrors({});
    const onError = (error: unknown) => {
      setAttempt((n) => n + 1);
      if (!isApiError(error)) {
        setGeneralError(String(error));
        return;
      }
      if (error.code === 'VERSION_CONFLICT') {
        setGeneralError(
          <>
            Someone changed this task after you opened it. Reload it to see their changes, then edit again.{' '}
            <Anchor component="button" type="button" onClick={() => window.location.reload()}>
              Reload
            </Anchor>
          </>,
        );
        return;
      }
      const field = formFieldForPath(error.field, values.kind);
      if (field) setErrors({ [field]: error.message });
      else setGeneralError(error.isNetwork ? `${error.message} Your changes are still here; try again when the server is back.` : error.message);
    };
    const onSuccess = (saved: Task) => {
      notifications.show({
        color: 'teal',
        title: mode === 'create' ? 'Task created' : 'Task saved',
        message: saved.nextRunAt ? `${saved.name}: ${saved.description}` : saved.name,
      });
      navigate(`/tasks/${saved.id}`);
    };
    if (task) update.mutate(toTaskPatch(values, task), { onSuccess, onError });
    else create.mutate(toTaskCreate(values), { onSuccess, onError });
  };

  return (
    <div ref={formRef} style={{ maxWidth: 980 }}>
      <TaskForm
        mode={mode}
        values={values}
        errors={shownErrors}
        generalError={generalError}
        onChange={onChange}
        onSubmit={onSubmit}
        onCancel={() => navigate(task ? `/tasks/${task.id}` : '/tasks')}
        submitting={mutation.isPending}
        preview={preview.data && !previewError ? preview.data : undefined}
        previewLoading={preview.isFetching}
      />
    </div>
  );
}

export function TaskFormRoute() {
  const { id } = useParams();
  const task = useTask(id);
  const back = (
    <Button component={Link} to={id ? `/tasks/${id}` : '/tasks'} variant="subtle" size="compact-sm" leftSection={<IconArrowLeft size={14} />} mb="xs">
      {id ? 'Back to the task' : 'Tasks'}
    </Button>
  );
  if (!id) {
    return (
      <>
        {back}
        <PageHeader title="New task" description="Run something once at a given time, or on a recurring cron schedule." />
        <FormPage />
      </>
    );
  }
  return (
    <>
      {back}
      <PageHeader title={task.data ? `Edit ${task.data.name}` : 'Edit task'} />
      {task.isPending ? (
        <LoadingRows rows={4} height={60} />
      ) : task.isError ? (
        <ErrorState error={task.error} onRetry={() => void task.refetch()} action={<Button component={Link} to="/tasks" variant="default">All tasks</Button>} />
      ) : (
        <>
          <Group mb="sm">
            <Text size="sm" c="dimmed">
              Changing the schedule takes effect at once: upcoming runs are recomputed.
            </Text>
          </Group>
          {/* keyed by id so navigating between tasks resets the form; not by version, so a
              live refetch while typing does not throw the user's edits away */}
          <FormPage key={task.data.id} task={task.data} />
        </>
      )}
    </>
  );
}
