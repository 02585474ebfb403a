// One-time schedule: a date and a time on the wall clock of a chosen zone (the browser's by
// default), read back as the absolute instant it means.
import { Button, Checkbox, Grid, Group, Paper, Text } from '@mantine/core';
import { DateInput, TimeInput } from '@mantine/dates';
import { formatInstant, formatRelative, instantToZonedWallTime, UTC } from '../../lib/time';
import { useNow } from '../../lib/useNow';
import { onceInstant, type FormErrors, type TaskFormValues } from './model';
import { TimeZoneSelect } from './TimeZoneSelect';

interface Props {
  values: TaskFormValues;
  errors: FormErrors;
  onChange: (patch: Partial<TaskFormValues>) => void;
}

const parseIsoDate = (text: string): string | null => (/^\d{4}-\d{2}-\d{2}$/.test(text.trim()) ? text.trim() : null);

export function OnceScheduleFields({ values, errors, onChange }: Props) {
  const now = useNow();
  const at = onceInstant(values);
  const past = at !== null && at.getTime() <= now;

  const setInstant = (ms: number) => {
    const [date = '', time = ''] = instantToZonedWallTime(new Date(ms), values.onceZone).split(' ');
    onChange({ date, time });
  };
  const tomorrowNine = () => {
    const [date = ''] = instantToZonedWallTime(new Date(now + 86_400_000), values.onceZone).split(' ');
    onChange({ date, time: '09:00:00' });
  };

  return (
    <>
      <Grid gap="sm">
        <Grid.Col span={{ base: 12, xs: 4 }}>
          <DateInput
            label="Date"
            valueFormat="YYYY-MM-DD"
            dateParser={parseIsoDate}
            placeholder="YYYY-MM-DD"
            value={values.date || null}
            onChange={(date) => onChange({ date: date ? String(date).slice(0, 10) : '' })}
            error={errors.at}
            required
          />
        </Grid.Col>
        <Grid.Col span={{ base: 12, xs: 3 }}>
          <TimeInput
            label="Time"
            withSeconds
            value={values.time}
            onChange={(e) => onChange({ time: e.currentTarget.value })}
            error={errors.at ? true : undefined}
            required
          />
        </Grid.Col>
        <Grid.Col span={{ base: 12, xs: 5 }}>
          <TimeZoneSelect label="Time zone" value={values.onceZone} onChange={(onceZone) => onChange({ onceZone })} error={errors.onceZone} />
        </Grid.Col>
      </Grid>
      <Group gap="xs" mt="xs">
        <Text size="xs" c="dimmed">
          Quick:
        </Text>
        <Button size="compact-xs" variant="default" onClick={() => setInstant(now + 60_000)}>
          in 1 min
        </Button>
        <Button size="compact-xs" variant="default" onClick={() => setInstant(now + 10 * 60_000)}>
          in 10 min
        </Button>
        <Button size="compact-xs" variant="default" onClick={() => setInstant(now + 3_600_000)}>
          in 1 hour
        </Button>
        <Button size="compact-xs" variant="default" onClick={tomorrowNine}>
          tomorrow 09:00
        </Button>
      </Group>
      {at && (
        <Paper withBorder p="sm" mt="sm" radius="md" bg={past ? 'var(--mantine-color-orange-light)' : 'var(--mantine-color-default-hover)'} data-testid="once-readback">
          <Text size="sm">
            {past ? 'Was due ' : 'Fires '}
            <Text span ff="monospace" fw={600}>
              {formatInstant(at.toISOString(), { zone: values.onceZone, weekday: true })}
            </Text>{' '}
            {values.onceZone}
            {values.onceZone !== UTC && (
              <>
                {' · '}
                <Text span ff="monospace">
                  {formatInstant(at.toISOString(), { zone: 'utc' })}
                </Text>{' '}
                UTC
              </>
            )}
            {' · '}
            <Text span fw={600} c={past ? 'orange' : undefined}>
              {formatRelative(at.toISOString(), now)}
            </Text>
          </Text>
          {past && (
            <Checkbox
              mt="xs"
              label="This time has passed: run the task right away when saved"
              checked={values.runImmediatelyIfPast}
              onChange={(e) => onChange({ runImmediatelyIfPast: e.currentTarget.checked })}
            />
          )}
        </Paper>
      )}
    </>
  );
}
