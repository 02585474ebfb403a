// A small hand-drawn SVG chart of lag (start − scheduled) per minute: p50 and p99 lines
// over faint bars for the number of runs. No chart library: this is all the UI needs.
import { Group, Text, useMantineTheme } from '@mantine/core';
import { useElementSize } from '@mantine/hooks';
import type { Stats } from '../../shared/schemas';
import { formatInstant, formatLag } from '../lib/time';
import { useNow } from '../lib/useNow';
import { formatAxisMs, lagChartGeometry, minuteSlots, WINDOW_MINUTES } from './lagChart';
import { useTimeMode } from './TimeMode';

const HEIGHT = 190;

function Legend({ color, label, dashed }: { color: string; label: string; dashed?: boolean }) {
  return (
    <Group gap={6} wrap="nowrap">
      <svg width="18" height="8" aria-hidden="true">
        <line x1="0" y1="4" x2="18" y2="4" stroke={color} strokeWidth="2.5" strokeDasharray={dashed ? '4 3' : undefined} />
      </svg>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
    </Group>
  );
}

export function LagChart({ lag }: { lag: Stats['lag'] }) {
  const theme = useMantineTheme();
  // Drawn at the container's real width so labels keep their size on a phone.
  const { ref, width: measured } = useElementSize();
  const WIDTH = Math.max(280, Math.round(measured) || 640);
  const { mode } = useTimeMode();
  const now = useNow();
  const slots = minuteSlots(lag, now);
  const g = lagChartGeometry(slots, WIDTH, HEIGHT, (iso) => formatInstant(iso, { zone: mode }).slice(-8, -3));
  const p50 = theme.colors.indigo[5];
  const p99 = theme.colors.orange[6];
  const last = [...lag].reverse().find((p) => p.p50Ms !== null);
  const summary = last
    ? `Lag over the last ${WINDOW_MINUTES} minutes. Latest minute: p50 ${formatLag(last.p50Ms)}, p99 ${formatLag(last.p99Ms)}, ${last.runs} runs.`
    : 'No runs in the last 30 minutes.';

  return (
    <div ref={ref}>
      <Group gap="md" mb={4}>
        <Legend color={p50} label="p50 lag" />
        <Legend color={p99} label="p99 lag" />
        <Group gap={6} wrap="nowrap">
          <svg width="10" height="10" aria-hidden="true">
            <rect width="10" height="10" rx="2" fill="var(--mantine-color-gray-5)" opacity="0.35" />
          </svg>
          <Text size="xs" c="dimmed">
            runs per minute
          </Text>
        </Group>
      </Group>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%" role="img" aria-label={summary} style={{ display: 'block', overflow: 'visible' }}>
        {g.yTicks.map((t) => (
          <g key={t.value}>
            <line x1={g.plot.left} x2={g.plot.right} y1={t.y} y2={t.y} stroke="var(--mantine-color-default-border)" strokeDasharray={t.value === 0 ? undefined : '3 4'} />
            <text x={g.plot.left - 8} y={t.y + 4} textAnchor="end" fontSize="11" fill="var(--mantine-color-dimmed)" fontFamily="var(--mantine-font-family-monospace)">
              {formatAxisMs(t.value)}
            </text>
          </g>
        ))}
        {g.bars.map((b, i) =>
          b.height > 0 ? (
            <rect key={i} x={b.x} y={b.y} width={b.width} height={b.height} rx="1.5" fill="var(--mantine-color-gray-5)" opacity="0.3">
              <title>{`${b.runs} runs`}</title>
            </rect>
          ) : null,
        )}
        {!last && (
          <text x={(g.plot.left + g.plot.right) / 2} y={(g.plot.top + g.plot.bottom) / 2} textAnchor="middle" fontSize="13" fill="var(--mantine-color-dimmed)">
            No runs in the last 30 minutes yet
          </text>
        )}
        <path d={g.p99Path} fill="none" stroke={p99} strokeWidth="2" strokeLinejoin="round" strokeLinecap="round" />
        <path d={g.p50Path} fill="none" stroke={p50} strokeWidth="2.5" strokeLinejoin="round" strokeLinecap="round" />
        {g.p99Dots.map((d, i) => (
          <circle key={`p99-${i}`} cx={d.x} cy={d.y} r="2.5" fill={p99} />
        ))}
        {g.p50Dots.map((d, i) => (
          <circle key={`p50-${i}`} cx={d.x} cy={d.y} r="2.5" fill={p50} />
        ))}
        {g.xTicks.map((t, i) => (
          <text
            key={i}
            x={t.x}
            y={HEIGHT - 6}
            textAnchor={i === 0 ? 'start' : i === g.xTicks.length - 1 ? 'end' : 'middle'}
            fontSize="11"
            fill="var(--mantine-color-dimmed)"
            fontFamily="var(--mantine-font-family-monospace)"
          >
            {t.label}
          </text>
        ))}
      </svg>
    </div>
  );
}
