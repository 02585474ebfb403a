// "What is coming": occurrences due per minute over the next hours, one-time tasks counted
// and recurring tasks projected by the server, drawn as stacked bars. The peak is written
// out so the 09:00 spike reads without hovering, and is the chart's accessible name.
import { Group, Text, useMantineTheme } from '@mantine/core';
import { useElementSize } from '@mantine/hooks';
import type { Upcoming } from '../../shared/schemas';
import { formatInstant } from '../lib/time';
import { formatCount, upcomingGeometry } from './upcomingChart';
import { useTimeMode } from './TimeMode';

const HEIGHT = 170;

function Swatch({ color, label }: { color: string; label: string }) {
  return (
    <Group gap={6} wrap="nowrap">
      <svg width="10" height="10" aria-hidden="true">
        <rect width="10" height="10" rx="2" fill={color} />
      </svg>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
    </Group>
  );
}

export function UpcomingChart({ data }: { data: Upcoming }) {
  const theme = useMantineTheme();
  const { ref, width: measured } = useElementSize();
  const width = Math.max(280, Math.round(measured) || 640);
  const { mode } = useTimeMode();
  const g = upcomingGeometry(data.buckets, width, HEIGHT);
  const onceColor = theme.colors.grape[5];
  const recurringColor = theme.colors.blue[5];
  const hhmm = (iso: string) => formatInstant(iso, { zone: mode }).slice(-8, -3);
  const span = (minutes: number, at: string) => (minutes > 1 ? `${hhmm(at)}–${hhmm(new Date(Date.parse(at) + minutes * 60_000).toISOString())}` : hhmm(at));
  const total = data.buckets.reduce((n, b) => n + b.once + b.recurring, 0);
  const hours = Math.round(data.buckets.length / 60);
  const summary = g.peak
    ? `${total.toLocaleString()} occurrences due in the next ${hours} h; the busiest ${g.peak.minutes > 1 ? `${g.peak.minutes} minutes` : 'minute'}, ${span(g.peak.minutes, g.peak.at)}, has ${g.peak.total.toLocaleString()}.`
    : `Nothing due in the next ${hours} h.`;

  return (
    <div ref={ref}>
      <Group gap="md" mb={4} justify="space-between">
        <Group gap="md">
          <Swatch color={onceColor} label="one-time" />
          <Swatch color={recurringColor} label="recurring (projected)" />
          {g.merge > 1 && (
            <Text size="xs" c="dimmed">
              one bar = {g.merge} min
            </Text>
          )}
        </Group>
        {g.peak && (
          <Text size="sm" data-testid="upcoming-peak" data-peak-at={g.peak.at} data-peak-total={g.peak.total}>
            Peak{' '}
            <Text span fw={700} ff="monospace">
              {g.peak.total.toLocaleString()}
            </Text>{' '}
            at{' '}
            <Text span ff="monospace">
              {span(g.peak.minutes, g.peak.at)}
            </Text>
          </Text>
        )}
      </Group>
      <svg viewBox={`0 0 ${width} ${HEIGHT}`} width="100%" role="img" aria-label={summary} data-testid="upcoming-chart" style={{ display: 'block', overflow: 'visible' }}>
        {g.yTicks.map((t) => (
          <g key={t.value}>
            <line x1={g.plot.left} x2={g.plot.right} y1={t.y} y2={t.y} stroke="var(--mantine-color-default-border)" strokeDasharray={t.value === 0 ? undefined : '3 4'} />
            <text x={g.plot.left - 8} y={t.y + 4} textAnchor="end" fontSize="11" fill="var(--mantine-color-dimmed)" fontFamily="var(--mantine-font-family-monospace)">
              {formatCount(t.value)}
            </text>
          </g>
        ))}
        {g.bars.map((b) =>
          b.once + b.recurring > 0 ? (
            <g key={b.at} data-at={b.at} data-minutes={b.minutes} data-once={b.once} data-recurring={b.recurring}>
              <title>{`${span(b.minutes, b.at)}: ${b.once.toLocaleString()} one-time, ${b.recurring.toLocaleString()} recurring`}</title>
              {b.recurringHeight > 0 && <rect x={b.x} y={b.recurringY} width={b.width} height={Math.max(1, b.recurringHeight)} fill={recurringColor} />}
              {b.onceHeight > 0 && <rect x={b.x} y={b.onceY} width={b.width} height={Math.max(1, b.onceHeight)} fill={onceColor} />}
            </g>
          ) : null,
        )}
        {!g.peak && (
          <text x={(g.plot.left + g.plot.right) / 2} y={(g.plot.top + g.plot.bottom) / 2} textAnchor="middle" fontSize="13" fill="var(--mantine-color-dimmed)">
            Nothing due in the next {hours} h
          </text>
        )}
        {g.xTicks.map((t, i) => (
          <text key={i} x={t.x} y={HEIGHT - 6} textAnchor="middle" fontSize="11" fill="var(--mantine-color-dimmed)" fontFamily="var(--mantine-font-family-monospace)">
            {hhmm(t.at)}
          </text>
        ))}
      </svg>
      {data.unprojectedTasks > 0 && (
        <Text size="xs" c="orange" mt={4}>
          {data.unprojectedTasks.toLocaleString()} recurring tasks are not drawn: their schedules fire too often to project within the server's bound.
        </Text>
      )}
    </div>
  );
}
