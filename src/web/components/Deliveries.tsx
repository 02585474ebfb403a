// A webhook run's HTTP attempts: a one-line summary in the run table (one mark per attempt,
// red for a failure, so a run that failed three times reads at a glance), every attempt
// (status or error, duration, node, the start of the response) in a popover.
import { Anchor, Code, Group, Popover, Stack, Text } from '@mantine/core';
import type { Delivery, Run } from '../../shared/schemas';
import { Instant } from './Instant';

/** `deferred`: no request went out, the origin's circuit was open. */
type Attempt = Delivery;

function outcome(d: Attempt): { text: string; ok: boolean; deferred?: boolean } {
  if (d.deferred) return { text: 'deferred: circuit open', ok: false, deferred: true };
  if (d.statusCode !== undefined) return { text: `HTTP ${d.statusCode}`, ok: d.statusCode >= 200 && d.statusCode < 300 };
  return { text: d.error ?? 'no response', ok: false };
}

function AttemptMarks({ deliveries }: { deliveries: Attempt[] }) {
  const shown = deliveries.slice(-8);
  return (
    <span aria-hidden="true" style={{ display: 'inline-flex', gap: 2, marginRight: 6, verticalAlign: 'middle' }}>
      {shown.map((d) => (
        <span
          key={d.n}
          data-attempt-ok={outcome(d).ok}
          style={{
            width: 7,
            height: 12,
            borderRadius: 2,
            background: outcome(d).deferred
              ? 'var(--mantine-color-gray-5)'
              : outcome(d).ok
                ? 'var(--mantine-color-teal-6)'
                : 'var(--mantine-color-red-6)',
          }}
        />
      ))}
    </span>
  );
}

export function DeliveriesSummary({ run }: { run: Run }) {
  const deliveries: Attempt[] = run.deliveries ?? [];
  if (deliveries.length === 0) return null;
  const last = outcome(deliveries[deliveries.length - 1]!);
  // a deferral is not an attempt: no request was sent
  const sent = deliveries.filter((d) => !d.deferred).length;
  const label = `${last.text} · ${sent} attempt${sent === 1 ? '' : 's'}`;
  return (
    <Popover width={380} position="bottom-end" withArrow shadow="md">
      <Popover.Target>
        <Anchor component="button" type="button" size="xs" c={last.ok ? undefined : 'red'} ff="monospace" className="nowrap" aria-label={label}>
          <AttemptMarks deliveries={deliveries} />
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
