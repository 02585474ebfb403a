// One form for creating and editing a task. It renders values and reports changes; the route
// owns the state, the server calls and the errors.
import type { FormEvent, ReactNode } from 'react';
import { Alert, Button, Group, JsonInput, Paper, SegmentedControl, Stack, Text, TextInput, Title } from '@mantine/core';
import type { Preview } from '../../../shared/schemas';
import { IconAlert } from '../icons';
import { ActionFields } from './ActionFields';
import { CronScheduleFields } from './CronScheduleFields';
import type { FormErrors, TaskFormValues } from './model';
import { OnceScheduleFields } from './OnceScheduleFields';

export interface TaskFormProps {
  mode: 'create' | 'edit';
  values: TaskFormValues;
  errors: FormErrors;
  generalError: ReactNode | null;
  onChange: (patch: Partial<TaskFormValues>) => void;
  onSubmit: () => void;
  onCancel: () => void;
  submitting: boolean;
  preview: Preview | undefined;
  previewLoading: boolean;
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Paper withBorder radius="md" p={{ base: 'sm', sm: 'lg' }}>
      <Title order={3} size="h5" mb="sm">
        {title}
      </Title>
      {children}
    </Paper>
  );
}

export function TaskForm(props: TaskFormProps) {
  const { mode, values, errors, generalError, onChange, submitting } = props;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    props.onSubmit();
  };
  return (
    <form onSubmit={submit} noValidate aria-label={mode === 'create' ? 'New task' : 'Edit task'}>
      <Stack gap="md">
        {generalError && (
          <Alert color="red" variant="light" icon={<IconAlert size={18} />} title="The task was not saved" role="alert">
            {generalError}
          </Alert>
        )}
        <Section title="What">
          <TextInput
            label="Name"
            description="Shown in the task list and in every execution."
            placeholder="Send the weekly digest"
            value={values.name}
            onChange={(e) => onChange({ name: e.currentTarget.value })}
            error={errors.name}
            required
            maxLength={200}
            data-autofocus
          />
        </Section>
        <Section title="When">
          <SegmentedControl
            mb="md"
            aria-label="Kind of task"
            value={values.kind}
            onChange={(kind) => onChange({ kind: kind as TaskFormValues['kind'] })}
            data={[
              { value: 'once', label: 'One-time' },
              { value: 'cron', label: 'Recurring (cron)' },
            ]}
          />
          {values.kind === 'once' ? (
            <OnceScheduleFields values={values} errors={errors} onChange={onChange} />
          ) : (
            <CronScheduleFields values={values} errors={errors} onChange={onChange} preview={props.preview} previewLoading={props.previewLoading} />
          )}
        </Section>
        <Section title="Action">
          <ActionFields values={values} errors={errors} onChange={onChange} />
        </Section>
        <Section title="Payload">
          {/* No formatOnBlur on JSON inputs: reformatting on blur grows the textarea and
              moves the submit button out from under a click that caused the blur. */}
          <JsonInput
            label="JSON payload (optional)"
            description="Recorded with every run. Any JSON value up to 64 KiB."
            placeholder={'{ "to": "ops@example.com" }'}
            value={values.payload}
            onChange={(payload) => onChange({ payload })}
            error={errors.payload}
            validationError="Not valid JSON"
            autosize
            minRows={3}
            maxRows={16}
            spellCheck={false}
          />
        </Section>
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={props.onCancel} disabled={submitting}>
            Cancel
          </Button>
          <Button type="submit" loading={submitting}>
            {mode === 'create' ? 'Create task' : 'Save changes'}
          </Button>
        </Group>
        <Text size="xs" c="dimmed" ta="right">
          Fields marked * are required.
        </Text>
      </Stack>
    </form>
  );
}
