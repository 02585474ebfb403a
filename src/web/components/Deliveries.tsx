// A webhook run's HTTP attempts: a one-line summary in the run table, every attempt (status
// or error, duration, node, the start of the response) in a popover.
import { Anchor, Code, Group, Popover, Stack, Text } from '@mantine/core';
import type { Delivery, Run } from '../../shared/schemas';
import { Instant } from './Instant';

function outcome(d: Delivery): { text: string; ok: boolean } {
  if (d.statusCode !== undefined) return { text: `HTTP ${d.statusCode}`, ok: d.statusCode >= 200 && d.statusCode < 300 };
  return { text: d.error ?? 'no response', ok: false };
}

export function DeliveriesSummary({ run }: { run: Run }) {
  const deliveries = run.deliveries ?? [];
  if (deliveries.length === 0) return null;
  const last = outcome(deliveries[deliveries.length - 1]!);
  const label = `${last.text} · ${deliveries.length} attempt${deliveries.length === 1 ? '' : 's'}`;
  return (
    <Popover width={380} position="bottom-end" withArrow shadow="md">
      <Popover.Target>
        <Anchor component="button" type="button" size="xs" c={last.ok ? undefined : 'red'} ff="monospace" className="nowrap">
          {label}
        </Anchor>
      </Popover.Target>
      <Popover.Dropdown>
        <Stack gap="sm">
          <Text size="sm" fw={600}>
            Webhook attempts
          </Text>
          {deliveries.map((d) => {
            const o = outcome(d);
            return (
              <Stack key={d.n} gap={2}>
                <Group justify="space-between" wrap="nowrap">
                  <Text size="sm" fw={600} c={o.ok ? 'teal' : 'red'}>
                    #{d.n} {o.text}
                  </Text>
                  <Text size="xs" c="dimmed" ff="monospace">
                    {d.durationMs} ms · {d.nodeId}
                  </Text>
                </Group>
                <Instant iso={d.startedAt} ms size="xs" />
                {d.url && (
                  <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }}>
                    redirected to {d.url}
                  </Text>
                )}
                {d.response && (
                  <Code block fz="xs" style={{ maxHeight: 120, overflow: 'auto' }}>
                    {d.response}
                    {d.truncated ? '\n…' : ''}
                  </Code>
                )}
              </Stack>
            );
          })}
        </Stack>
      </Popover.Dropdown>
    </Popover>
  );
}
