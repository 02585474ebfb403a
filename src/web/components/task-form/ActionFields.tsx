// What a run does: record itself (the default; every run is logged either way) or call a
// webhook, with the retry and timeout knobs the server offers.
import { Grid, JsonInput, NumberInput, SegmentedControl, Select, Stack, Text, TextInput } from '@mantine/core';
import type { FormErrors, TaskFormValues } from './model';

interface Props {
  values: TaskFormValues;
  errors: FormErrors;
  onChange: (patch: Partial<TaskFormValues>) => void;
}

const METHODS = ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'];

export function ActionFields({ values, errors, onChange }: Props) {
  return (
    <Stack gap="sm">
      <SegmentedControl
        aria-label="What a run does"
        value={values.action}
        onChange={(action) => onChange({ action: action as TaskFormValues['action'] })}
        data={[
          { value: 'log', label: 'Log the run' },
          { value: 'webhook', label: 'Call a webhook' },
        ]}
        style={{ alignSelf: 'flex-start' }}
      />
      {errors.action && (
        <Text size="sm" c="red" role="alert">
          {errors.action}
        </Text>
      )}
      {values.action === 'log' ? (
        <Text size="sm" c="dimmed">
          Each run is recorded with the exact time it executed, on the node that ran it.
        </Text>
      ) : (
        <>
          <Grid gap="sm">
            <Grid.Col span={{ base: 12, sm: 9 }}>
              <TextInput
                label="URL"
                placeholder="https://hooks.example.com/reminders"
                value={values.webhookUrl}
                onChange={(e) => onChange({ webhookUrl: e.currentTarget.value })}
                error={errors.webhookUrl}
                required
                type="url"
                spellCheck={false}
              />
            </Grid.Col>
            <Grid.Col span={{ base: 12, sm: 3 }}>
              <Select
                label="Method"
                data={METHODS}
                value={values.webhookMethod}
                onChange={(m) => m && onChange({ webhookMethod: m as TaskFormValues['webhookMethod'] })}
                allowDeselect={false}
                error={errors.webhookMethod}
              />
            </Grid.Col>
          </Grid>
          <JsonInput
            label="Headers (optional)"
            description="A JSON object of extra request headers."
            placeholder={'{ "Authorization": "Bearer …" }'}
            value={values.webhookHeaders}
            onChange={(webhookHeaders) => onChange({ webhookHeaders })}
            error={errors.webhookHeaders}
            validationError="Not valid JSON"
            autosize
            minRows={2}
            maxRows={10}
            spellCheck={false}
          />
          <JsonInput
            label="Body (optional)"
            description="Sent as JSON. Leave empty to send the task, the run and the payload."
            placeholder={'{ "text": "Time to stand up" }'}
            value={values.webhookBody}
            onChange={(webhookBody) => onChange({ webhookBody })}
            error={errors.webhookBody}
            validationError="Not valid JSON"
            autosize
            minRows={2}
            maxRows={12}
            spellCheck={false}
          />
          <Grid gap="sm">
            <Grid.Col span={{ base: 6, sm: 4 }}>
              <NumberInput
                label="Timeout per attempt (ms)"
                placeholder="10000"
                min={100}
                max={60_000}
                step={1000}
                value={values.webhookTimeoutMs}
                onChange={(v) => onChange({ webhookTimeoutMs: typeof v === 'number' ? v : '' })}
                error={errors.webhookTimeoutMs}
              />
            </Grid.Col>
            <Grid.Col span={{ base: 6, sm: 4 }}>
              <NumberInput
                label="Attempts in all"
                placeholder="3"
                min={1}
                max={10}
                value={values.webhookMaxAttempts}
                onChange={(v) => onChange({ webhookMaxAttempts: typeof v === 'number' ? v : '' })}
                error={errors.webhookMaxAttempts}
              />
            </Grid.Col>
          </Grid>
          <Text size="xs" c="dimmed">
            Retried on network errors, timeouts, 408, 429 and 5xx. Every attempt is shown in the run history.
          </Text>
        </>
      )}
    </Stack>
  );
}
