// An instant on screen: absolute time in the chosen zone (monospace, so columns line up),
// the other zones on hover (keyboard users switch zones with the navbar toggle instead of
// tabbing through every cell), and optionally "in 4 min" beneath it.
import { Stack, Text, Tooltip, type MantineSize } from '@mantine/core';
import { browserTimeZone, formatInstant, formatRelative } from '../lib/time';
import { useNow, useNowMinute } from '../lib/useNow';
import { useTimeMode } from './TimeMode';

interface InstantProps {
  iso: string | null | undefined;
  ms?: boolean;
  relative?: boolean;
  /** drop the date for instants today */
  compact?: boolean;
  size?: MantineSize;
  empty?: string;
}

export function Instant(props: InstantProps) {
  // Only a relative time needs the second; a compact one needs the day.
  return props.relative ? <RelativeInstant {...props} /> : <PlainInstant {...props} />;
}

function RelativeInstant(props: InstantProps) {
  return <InstantAt {...props} now={useNow()} />;
}

function PlainInstant(props: InstantProps) {
  return <InstantAt {...props} now={useNowMinute()} />;
}

/** The tooltip's text, formatted only when the tooltip is shown. */
function OtherZones({ iso }: { iso: string }) {
  const local = browserTimeZone();
  return (
    <Stack gap={2}>
      <Text size="xs" ff="monospace">
        {formatInstant(iso, { zone: 'utc', ms: true })} UTC
      </Text>
      {local !== 'UTC' && (
        <Text size="xs" ff="monospace">
          {formatInstant(iso, { zone: 'local', ms: true })} {local}
        </Text>
      )}
    </Stack>
  );
}

function InstantAt({ iso, ms, relative, compact, size = 'sm', empty = '—', now }: InstantProps & { now: number }) {
  const { mode } = useTimeMode();
  if (!iso) {
    return (
      <Text size={size} c="dimmed">
        {empty}
      </Text>
    );
  }
  return (
    <Stack gap={0}>
      <Tooltip label={<OtherZones iso={iso} />} openDelay={300} withArrow>
        <Text component="time" dateTime={iso} size={size} ff="monospace" style={{ whiteSpace: 'nowrap' }}>
          {formatInstant(iso, { zone: mode, ms, now: compact ? now : undefined })}
          {mode === 'utc' && <Text span size="xs" c="dimmed"> Z</Text>}
        </Text>
      </Tooltip>
      {relative && (
        <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
          {formatRelative(iso, now)}
        </Text>
      )}
    </Stack>
  );
}
