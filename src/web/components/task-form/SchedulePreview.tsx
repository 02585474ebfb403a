// The server's answer for the expression being typed: its description in words and the next
// occurrences, with those moved or disambiguated by a DST change marked.
import { Badge, Group, Loader, Paper, Stack, Text, Tooltip } from '@mantine/core';
import type { Preview } from '../../../shared/schemas';
import { browserTimeZone, formatInstant, formatRelative } from '../../lib/time';
import { useNow } from '../../lib/useNow';

const DST_HELP = {
  gap: 'The clocks skip this wall time (DST starts): it fires at the first instant after the jump.',
  overlap: 'This wall time happens twice (DST ends): it fires once, at the first.',
} as const;

interface Props {
  preview: Preview | undefined;
  loading: boolean;
  /** set when the expression is invalid; the message itself is shown at the field */
  invalid: boolean;
}

export function SchedulePreview({ preview, loading, invalid }: Props) {
  const now = useNow();
  const local = browserTimeZone();
  return (
    <Paper withBorder radius="md" p="sm" bg="var(--mantine-color-default-hover)" aria-live="polite" data-testid="schedule-preview">
      <Group justify="space-between" mb={6} wrap="nowrap">
        <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
          Next runs
        </Text>
        {loading && <Loader size={14} aria-label="Updating preview" />}
      </Group>
      {invalid ? (
        <Text size="sm" c="dimmed">
          Fix the expression to see when it runs.
        </Text>
      ) : !preview ? (
        <Text size="sm" c="dimmed">
          Type an expression or pick a preset.
        </Text>
      ) : (
        <>
          <Text fw={600} mb="xs" data-testid="schedule-description" style={{ opacity: loading ? 0.6 : 1 }}>
            {preview.description}
          </Text>
          {preview.details.length === 0 ? (
            <Text size="sm" c="dimmed">
              No upcoming occurrence within the limits you set.
            </Text>
          ) : (
            <Stack gap={6} component="ol" style={{ listStyle: 'none', padding: 0, margin: 0, opacity: loading ? 0.6 : 1 }}>
              {preview.details.map((d) => (
                <Group key={d.at} component="li" justify="space-between" align="flex-start" gap="xs" wrap="nowrap" data-testid="occurrence" data-at={d.at}>
                  <Stack gap={2} style={{ minWidth: 0 }}>
                    <Text size="sm" ff="monospace" className="nowrap">
                      {formatInstant(d.at, { zone: preview.timezone, weekday: true })}
                    </Text>
                    {preview.timezone !== local && (
                      <Text size="xs" c="dimmed" ff="monospace" className="nowrap">
                        {formatInstant(d.at, { zone: 'local', now })} your time
                      </Text>
                    )}
                    {d.dst && (
                      <Tooltip label={DST_HELP[d.dst]} withArrow multiline w={260}>
                        <Badge size="sm" color="orange" variant="light" radius="sm" tabIndex={0} styles={{ label: { overflow: 'visible' } }}>
                          {d.dst === 'gap' ? 'DST: clocks skip this time' : 'DST: this hour repeats'}
                        </Badge>
                      </Tooltip>
                    )}
                  </Stack>
                  <Text size="xs" c="dimmed" className="nowrap">
                    {formatRelative(d.at, now)}
                  </Text>
                </Group>
              ))}
            </Stack>
          )}
          <Text size="xs" c="dimmed" mt={6}>
            Times in {preview.timezone}.
          </Text>
        </>
      )}
    </Paper>
  );
}
