// Targets: one row per webhook origin, so an operator sees that one receiver is down (its
// circuit open, requests piling up in flight) and that the others are unaffected.
import { Link } from 'react-router-dom';
import { Anchor, Badge, Card, Group, Paper, SimpleGrid, Stack, Table, Text, Tooltip } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { sortTargets, useTargets, type CircuitState, type Target } from '../api/targets';
import { PageHeader } from '../components/PageHeader';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { formatDuration, formatInstant, formatLag } from '../lib/time';
import { useTimeMode } from '../components/TimeMode';
import { useNow } from '../lib/useNow';

const CIRCUIT: Record<CircuitState, { color: string; explain: string }> = {
  closed: { color: 'teal', explain: 'Closed: requests go out normally.' },
  open: { color: 'red', explain: 'Open: too many failures; requests to this origin wait instead of going out.' },
  'half-open': { color: 'yellow', explain: 'Half-open: a trial request decides whether the circuit closes again.' },
};

function Circuit({ target }: { target: Target }) {
  const now = useNow();
  const { mode } = useTimeMode();
  const c = CIRCUIT[target.circuit];
  return (
    <Stack gap={2} align="flex-start">
      <Tooltip label={c.explain} withArrow multiline w={240}>
        <Badge color={c.color} variant={target.circuit === 'closed' ? 'light' : 'filled'} radius="sm" styles={{ label: { overflow: 'visible' } }} data-field="circuit">
          {target.circuit}
        </Badge>
      </Tooltip>
      {target.circuitSince && (
        <Text size="xs" c="dimmed" className="nowrap">
          for {formatDuration(now - Date.parse(target.circuitSince))}, since{' '}
          <Text span size="xs" ff="monospace">
            {formatInstant(target.circuitSince, { zone: mode, now })}
          </Text>
        </Text>
      )}
    </Stack>
  );
}

const num = (n: number) => n.toLocaleString();

function failureRate(t: Target): string {
  if (t.attempts === 0) return '';
  return `${Math.round((t.failures / t.attempts) * 100)} %`;
}

function FailedLink({ origin, failures }: { origin: string; failures: number }) {
  return (
    <Anchor component={Link} to={`/executions?status=failed&origin=${encodeURIComponent(origin)}`} size="sm" className="nowrap" aria-label={`Failed runs of ${origin}`}>
      Failed runs{failures > 0 ? '' : ' (none)'} →
    </Anchor>
  );
}

function TargetsTable({ items }: { items: Target[] }) {
  return (
    <Table.ScrollContainer minWidth={900}>
      <Table verticalSpacing="sm" highlightOnHover aria-label="Webhook targets">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Origin</Table.Th>
            <Table.Th>Circuit</Table.Th>
            <Table.Th ta="right">In flight</Table.Th>
            <Table.Th ta="right">Queued</Table.Th>
            <Table.Th ta="right">Attempts</Table.Th>
            <Table.Th ta="right">Failures</Table.Th>
            <Table.Th ta="right">p50</Table.Th>
            <Table.Th ta="right">p99</Table.Th>
            <Table.Th ta="right">Nodes</Table.Th>
            <Table.Th aria-label="Links" />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((t) => (
            <Table.Tr key={t.origin} data-origin={t.origin} data-circuit={t.circuit}>
              <Table.Td>
                <Text size="sm" ff="monospace" className="nowrap">
                  {t.origin}
                </Text>
              </Table.Td>
              <Table.Td>
                <Circuit target={t} />
              </Table.Td>
              <Table.Td ta="right" ff="monospace" className="nowrap" data-field="inFlight">
                {num(t.inFlight)}
              </Table.Td>
              <Table.Td ta="right" ff="monospace" className="nowrap" data-field="queued">
                {num(t.queued)}
              </Table.Td>
              <Table.Td ta="right" ff="monospace" className="nowrap" data-field="attempts">
                {num(t.attempts)}
              </Table.Td>
              <Table.Td ta="right" className="nowrap" data-field="failures">
                <Text size="sm" ff="monospace" c={t.failures > 0 ? 'red' : undefined}>
                  {num(t.failures)}
                </Text>
                <Text size="xs" c="dimmed" ff="monospace">
                  {failureRate(t)}
                </Text>
              </Table.Td>
              <Table.Td ta="right" ff="monospace" className="nowrap" data-field="p50">
                {formatLag(t.p50Ms)}
              </Table.Td>
              <Table.Td ta="right" ff="monospace" className="nowrap" data-field="p99">
                {formatLag(t.p99Ms)}
              </Table.Td>
              <Table.Td ta="right" ff="monospace">
                {t.nodes}
              </Table.Td>
              <Table.Td ta="right">
                <FailedLink origin={t.origin} failures={t.failures} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function Figure({ label, value, color }: { label: string; value: string; color?: string }) {
  return (
    <Stack gap={0}>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" ff="monospace" c={color}>
        {value}
      </Text>
    </Stack>
  );
}

function TargetCards({ items }: { items: Target[] }) {
  return (
    <Stack gap="sm">
      {items.map((t) => (
        <Card key={t.origin} withBorder padding="sm" data-origin={t.origin} data-circuit={t.circuit}>
          <Text size="sm" ff="monospace" fw={600} style={{ overflowWrap: 'anywhere' }}>
            {t.origin}
          </Text>
          <Group justify="space-between" mt={6} align="flex-start">
            <Circuit target={t} />
            <FailedLink origin={t.origin} failures={t.failures} />
          </Group>
          <SimpleGrid cols={3} mt="xs" spacing="xs">
            <Figure label="In flight" value={num(t.inFlight)} />
            <Figure label="Queued" value={num(t.queued)} />
            <Figure label="Nodes" value={String(t.nodes)} />
            <Figure label="Attempts" value={num(t.attempts)} />
            <Figure label="Failures" value={`${num(t.failures)} ${failureRate(t)}`} color={t.failures > 0 ? 'red' : undefined} />
            <Figure label="p50 · p99" value={`${formatLag(t.p50Ms)} · ${formatLag(t.p99Ms)}`} />
          </SimpleGrid>
        </Card>
      ))}
    </Stack>
  );
}

export function TargetsRoute() {
  const targets = useTargets();
  const { mode } = useTimeMode();
  const phone = useMediaQuery('(max-width: 48em)');
  const minutes = targets.data ? Math.round(targets.data.windowSeconds / 60) : 5;
  return (
    <>
      <PageHeader
        title="Targets"
        description={`Webhook delivery per origin across the live nodes: what is in flight and queued now, attempts, failures and response times over the last ${minutes} minutes, and each origin's circuit breaker.`}
      />
      <Paper withBorder p="md" radius="md">
        {targets.isPending ? (
          <LoadingRows rows={4} height={40} />
        ) : targets.isError && !targets.data ? (
          <ErrorState error={targets.error} onRetry={() => void targets.refetch()} />
        ) : targets.data.items.length === 0 ? (
          <Empty title="No webhook traffic" description="Origins appear here once a webhook task has sent a request." />
        ) : (
          <>
            {targets.isError && <StaleNotice error={targets.error} />}
            {phone ? <TargetCards items={sortTargets(targets.data.items)} /> : <TargetsTable items={sortTargets(targets.data.items)} />}
            <Text size="xs" c="dimmed" mt="sm">
              As of {formatInstant(targets.data.generatedAt, { zone: mode })}
              {mode === 'utc' ? ' UTC' : ''}; nodes report their per-origin state at every heartbeat.
            </Text>
          </>
        )}
      </Paper>
    </>
  );
}
