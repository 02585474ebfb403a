// Recurring schedule: presets that write common expressions, the expression itself (5 or 6
// fields), its zone and optional bounds, with the server's live preview beside them.
import { useRef, useState } from 'react';
import { Chip, Grid, Group, Loader, NumberInput, Radio, Stack, Text, TextInput } from '@mantine/core';
import { DateTimePicker, TimeInput } from '@mantine/dates';
import type { Preview } from '../../../shared/schemas';
import {
  detectPreset,
  PRESET_LABELS,
  presetExpression,
  presetFor,
  type CronPreset,
  type CronPresetId,
  type FormErrors,
  type TaskFormValues,
} from './model';
import { SchedulePreview } from './SchedulePreview';
import { TimeZoneSelect } from './TimeZoneSelect';

interface Props {
  values: TaskFormValues;
  errors: FormErrors;
  onChange: (patch: Partial<TaskFormValues>) => void;
  preview: Preview | undefined;
  previewLoading: boolean;
}

const PRESET_ORDER: CronPresetId[] = ['everySeconds', 'everyMinute', 'hourly', 'daily', 'weekdays', 'custom'];

export function CronScheduleFields({ values, errors, onChange, preview, previewLoading }: Props) {
  const detected = detectPreset(values.expression);
  const [custom, setCustom] = useState(false);
  const expressionRef = useRef<HTMLInputElement>(null);
  const active: CronPresetId = custom ? 'custom' : detected.id;

  const applyPreset = (preset: CronPreset) => {
    const expression = presetExpression(preset);
    if (expression) onChange({ expression });
  };
  const choose = (id: string) => {
    if (id === 'custom') {
      setCustom(true);
      expressionRef.current?.focus();
      return;
    }
    setCustom(false);
    applyPreset(presetFor(id as CronPresetId, detected));
  };

  return (
    <Grid gap="lg">
      <Grid.Col span={{ base: 12, md: 7 }}>
        <Stack gap="sm">
          <div role="group" aria-label="Presets">
            <Text size="sm" fw={500} mb={6}>
              Presets
            </Text>
            <Chip.Group multiple={false} value={active} onChange={choose}>
              <Group gap={6}>
                {PRESET_ORDER.map((id) => (
                  <Chip key={id} value={id} size="sm" variant="outline">
                    {PRESET_LABELS[id]}
                  </Chip>
                ))}
              </Group>
            </Chip.Group>
          </div>
          {!custom && detected.id === 'everySeconds' && (
            <NumberInput
              label="Every how many seconds"
              min={1}
              max={59}
              w={200}
              value={detected.seconds}
              onChange={(n) => typeof n === 'number' && applyPreset({ id: 'everySeconds', seconds: n })}
              clampBehavior="strict"
            />
          )}
          {!custom && (detected.id === 'daily' || detected.id === 'weekdays') && (
            <TimeInput
              label={detected.id === 'daily' ? 'Every day at' : 'Monday to Friday at'}
              w={200}
              value={detected.time}
              onChange={(e) => e.currentTarget.value && applyPreset({ id: detected.id, time: e.currentTarget.value })}
            />
          )}
          <TextInput
            ref={expressionRef}
            label="Cron expression"
            description="minute hour day-of-month month weekday; put seconds first for 6 fields. @hourly, @daily, @weekly work too."
            placeholder="*/5 * * * *"
            value={values.expression}
            onChange={(e) => onChange({ expression: e.currentTarget.value })}
            error={errors.expression}
            required
            spellCheck={false}
            autoComplete="off"
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            rightSection={previewLoading ? <Loader size={14} /> : null}
          />
          <TimeZoneSelect
            label="Time zone"
            description="The wall clock the expression is read on."
            value={values.cronZone}
            onChange={(cronZone) => onChange({ cronZone })}
            error={errors.cronZone}
          />
          <Grid gap="sm">
            <Grid.Col span={{ base: 12, xs: 6 }}>
              <DateTimePicker
                label="Not before (optional)"
                placeholder="Starts now"
                valueFormat="YYYY-MM-DD HH:mm"
                clearable
                value={values.startAt || null}
                onChange={(v) => onChange({ startAt: v ? String(v) : '' })}
                error={errors.startAt}
              />
            </Grid.Col>
            <Grid.Col span={{ base: 12, xs: 6 }}>
              <DateTimePicker
                label="Not after (optional)"
                placeholder="Runs indefinitely"
                valueFormat="YYYY-MM-DD HH:mm"
                clearable
                value={values.endAt || null}
                onChange={(v) => onChange({ endAt: v ? String(v) : '' })}
                error={errors.endAt}
              />
            </Grid.Col>
          </Grid>
          <Radio.Group
            label="If runs are missed"
            description="For example while every node was down."
            value={values.misfirePolicy}
            onChange={(v) => onChange({ misfirePolicy: v as TaskFormValues['misfirePolicy'] })}
            error={errors.misfirePolicy}
          >
            <Stack gap={6} mt={6}>
              <Radio value="fire_once" label="Fire once, late, then continue on schedule" />
              <Radio value="skip" label="Skip them (each is recorded as skipped)" />
            </Stack>
          </Radio.Group>
          <Radio.Group
            label="If the previous run is still going"
            description="A webhook being retried can outlast the interval."
            value={values.overlapPolicy}
            onChange={(v) => onChange({ overlapPolicy: v as TaskFormValues['overlapPolicy'] })}
            error={errors.overlapPolicy}
          >
            <Stack gap={6} mt={6}>
              <Radio value="allow" label="Run anyway" />
              <Radio value="skip" label="Skip this occurrence (recorded as skipped)" />
            </Stack>
          </Radio.Group>
        </Stack>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 5 }}>
        <SchedulePreview preview={preview} loading={previewLoading} invalid={Boolean(errors.expression || errors.cronZone)} />
      </Grid.Col>
    </Grid>
  );
}
