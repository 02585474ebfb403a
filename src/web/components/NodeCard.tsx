// One cluster member: who it is, how long it has been up, when it last proved it is alive,
// and how much it fired in the last minute.
import { Badge, Card, Group, SimpleGrid, Stack, Text, Tooltip } from '@mantine/core';
import type { ClusterNode } from '../../shared/schemas';
import { formatDuration, formatRelative } from '../lib/time';
import { Instant } from './Instant';

const FULL = { label: { overflow: 'visible' } } as const;

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Stack gap={2} style={{ minWidth: 0 }}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      {children}
    </Stack>
  );
}

export function NodeCard({ node, now }: { node: ClusterNode; now: number }) {
  const heartbeatAge = now - Date.parse(node.heartbeatAt);
  return (
    <Card withBorder padding="md" radius="md" data-node-id={node.id} data-alive={node.alive} style={{ opacity: node.alive ? 1 : 0.65 }}>
      <Group justify="space-between" wrap="wrap" align="flex-start" mb="sm" gap="xs">
        <Stack gap={2} style={{ minWidth: 0 }}>
          <Tooltip label={node.id} withArrow openDelay={300}>
            <Text ff="monospace" fw={600} truncate tabIndex={0}>
              {node.id}
            </Text>
          </Tooltip>
          <Text size="sm" c="dimmed" truncate>
            {node.host} · pid {node.pid} · v{node.version}
          </Text>
        </Stack>
        <Group gap={4} wrap="nowrap">
          {node.self && (
            <Tooltip label="The node serving this page" withArrow>
              <Badge variant="outline" color="indigo" radius="sm" tabIndex={0} styles={FULL}>
                this node
              </Badge>
            </Tooltip>
          )}
          <Badge variant="dot" color={node.alive ? 'teal' : 'red'} radius="sm" size="lg" styles={FULL}>
            {node.alive ? 'alive' : 'dead'}
          </Badge>
        </Group>
      </Group>
      <SimpleGrid cols={3} spacing="sm">
        <Field label="Fired / min">
          <Text size="xl" fw={700} ff="monospace" lh={1.1}>
            {node.firedLastMinute}
          </Text>
        </Field>
        <Field label="Heartbeat">
          <Text size="sm" ff="monospace" c={heartbeatAge > 15_000 ? 'red' : undefined}>
            {formatRelative(node.heartbeatAt, now) || '—'}
          </Text>
        </Field>
        <Field label="Up for">
          <Text size="sm" ff="monospace">
            {node.alive ? formatDuration(now - Date.parse(node.startedAt)) : '—'}
          </Text>
        </Field>
      </SimpleGrid>
      <Group gap={6} mt="sm">
        <Text size="xs" c="dimmed">
          Started
        </Text>
        <Instant iso={node.startedAt} size="xs" />
      </Group>
    </Card>
  );
}
