// Overview: the landing page. Counts, recent throughput and lag, the cluster at a glance,
// and the latest executions.
import { Link } from 'react-router-dom';
import { useState } from 'react';
import { Anchor, Card, Grid, Group, Paper, SegmentedControl, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import type { Stats } from '../../shared/schemas';
import { useCluster } from '../api/cluster';
import { useRuns } from '../api/runs';
import { useStats, useUpcoming } from '../api/stats';
import { RunBadges } from '../components/Badges';
import { Instant } from '../components/Instant';
import { LagChart } from '../components/LagChart';
import { UpcomingChart } from '../components/UpcomingChart';
import { PageHeader } from '../components/PageHeader';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { formatLag } from '../lib/time';

function StatCard({ label, value, hint, color, to }: { label: string; value: number | string; hint?: React.ReactNode; color?: string; to?: string }) {
  const body = (
    <Paper withBorder p="md" radius="md" h="100%">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fz={28} fw={700} ff="monospace" c={color} lh={1.3}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
  return to ? (
    <Link to={to} style={{ color: 'inherit', textDecoration: 'none' }} aria-label={`${label}: ${value}`}>
      {body}
    </Link>
  ) : (
    body
  );
}

function Counters({ stats }: { stats: Stats }) {
  const { tasks, runs } = stats;
  return (
    <SimpleGrid cols={{ base: 2, sm: 3, lg: 5 }} spacing="md" mb="md">
      <StatCard label="Active tasks" value={tasks.active} hint={`${tasks.paused} paused · ${tasks.completed} completed`} to="/tasks?state=active" />
      <StatCard label="Runs, last minute" value={runs.lastMinute} hint="across all nodes" to="/executions" />
      <StatCard label="Runs in total" value={runs.total.toLocaleString()} hint={`${runs.pending} pending`} to="/executions" />
      <StatCard label="Failed" value={runs.failed} color={runs.failed > 0 ? 'red' : undefined} hint="last 24 h" to="/executions?status=failed" />
      <StatCard label="Skipped" value={runs.skipped} color={runs.skipped > 0 ? 'orange' : undefined} hint="last 24 h: missed, expired, overlapping" to="/executions?status=skipped" />
    </SimpleGrid>
  );
}

function RecentRuns() {
  // Claimed runs wait as `pending` until their instant; the overview shows what already ran.
  const runs = useRuns({ limit: 20 }, { section: 'executed' });
  if (runs.isPending) return <LoadingRows rows={4} height={28} />;
  if (runs.isError && !runs.data) return <Text size="sm" c="red">Could not load executions.</Text>;
  const ran = runs.data.items.filter((run) => run.status !== 'pending').slice(0, 8);
  if (ran.length === 0) return <Empty title="Nothing has run yet" description="Executions show up here as tasks fire." />;
  return (
    <Stack gap={0}>
      {ran.map((run) => (
        <Group key={run.id} justify="space-between" wrap="nowrap" py={6} style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}>
          <Stack gap={0} style={{ minWidth: 0 }}>
            <Anchor component={Link} to={`/tasks/${run.taskId}`} size="sm" fw={600} truncate c="inherit">
              {run.taskName}
            </Anchor>
            <Group gap={6} wrap="nowrap">
              <Instant iso={run.startedAt ?? run.scheduledFor} ms compact size="xs" />
              <Text size="xs" c="dimmed" ff="monospace">
                lag {formatLag(run.lagMs)}
              </Text>
            </Group>
          </Stack>
          <RunBadges run={run} />
        </Group>
      ))}
    </Stack>
  );
}

function ComingUp() {
  const [hours, setHours] = useState('6');
  const upcoming = useUpcoming(Number(hours));
  return (
    <Card withBorder radius="md" padding="md">
      <Group justify="space-between" mb="xs">
        <Title order={3} size="h5">
          What is coming: occurrences due per minute
        </Title>
        <SegmentedControl
          size="xs"
          value={hours}
          onChange={setHours}
          data={[
            { value: '1', label: '1 h' },
            { value: '6', label: '6 h' },
            { value: '24', label: '24 h' },
          ]}
          aria-label="How far ahead"
        />
      </Group>
      {upcoming.isPending ? (
        <LoadingRows rows={1} height={170} />
      ) : upcoming.isError && !upcoming.data ? (
        <Text size="sm" c="red">
          Could not load the upcoming load: {upcoming.error.message}
        </Text>
      ) : (
        <UpcomingChart data={upcoming.data} />
      )}
    </Card>
  );
}

function ClusterSummary() {
  const cluster = useCluster();
  if (!cluster.data) return <LoadingRows rows={2} height={24} />;
  const alive = cluster.data.nodes.filter((n) => n.alive);
  return (
    <Stack gap={6}>
      <Text size="sm">
        <Text span fw={700} ff="monospace">
          {alive.length}
        </Text>{' '}
        of {cluster.data.nodes.length} nodes alive
      </Text>
      {alive.slice(0, 5).map((node) => (
        <Group key={node.id} justify="space-between" wrap="nowrap">
          <Text size="sm" ff="monospace" truncate>
            {node.id}
          </Text>
          <Text size="xs" c="dimmed" className="nowrap">
            {node.firedLastMinute}/min
          </Text>
        </Group>
      ))}
    </Stack>
  );
}

export function OverviewRoute() {
  const stats = useStats();
  return (
    <>
      <PageHeader title="Overview" description="What the scheduler is doing right now." />
      {stats.isPending ? (
        <LoadingRows rows={3} height={90} />
      ) : stats.isError && !stats.data ? (
        <ErrorState error={stats.error} onRetry={() => void stats.refetch()} />
      ) : (
        <>
          {stats.isError && <StaleNotice error={stats.error} />}
          <Counters stats={stats.data} />
          <Grid gap="md">
            <Grid.Col span={12}>
              <ComingUp />
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 8 }}>
              <Card withBorder radius="md" padding="md" h="100%">
                <Title order={3} size="h5" mb="xs">
                  Lag (start − scheduled), last 30 minutes
                </Title>
                <LagChart lag={stats.data.lag} />
              </Card>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 4 }}>
              <Card withBorder radius="md" padding="md" h="100%">
                <Group justify="space-between" mb="xs">
                  <Title order={3} size="h5">
                    Cluster
                  </Title>
                  <Anchor component={Link} to="/cluster" size="sm">
                    Details
                  </Anchor>
                </Group>
                <ClusterSummary />
              </Card>
            </Grid.Col>
            <Grid.Col span={12}>
              <Card withBorder radius="md" padding="md">
                <Group justify="space-between" mb="xs">
                  <Title order={3} size="h5">
                    Latest executions
                  </Title>
                  <Anchor component={Link} to="/executions" size="sm">
                    All executions
                  </Anchor>
                </Group>
                <RecentRuns />
              </Card>
            </Grid.Col>
          </Grid>
        </>
      )}
    </>
  );
}
