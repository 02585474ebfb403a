// Cluster: the nodes sharing the database. Polled every 2 s, so a killed node turns dead
// (its heartbeat stops) while the others keep firing.
import { Group, Paper, SimpleGrid, Text } from '@mantine/core';
import { useCluster } from '../api/cluster';
import { NodeCard } from '../components/NodeCard';
import { PageHeader } from '../components/PageHeader';
import { Empty, ErrorState, LoadingRows, StaleNotice } from '../components/States';
import { useNow } from '../lib/useNow';

export function ClusterRoute() {
  const query = useCluster();
  const now = useNow();
  const nodes = query.data?.nodes ?? [];
  const alive = nodes.filter((n) => n.alive);
  // Alive first, then by id, so cards don't jump around between polls.
  const sorted = [...nodes].sort((a, b) => Number(b.alive) - Number(a.alive) || a.id.localeCompare(b.id));

  return (
    <>
      <PageHeader
        title="Cluster"
        description="Identical nodes share the work through PostgreSQL. Stop one and watch the others carry on."
      />
      {query.isPending ? (
        <LoadingRows rows={3} height={140} />
      ) : query.isError && !query.data ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <>
          {query.isError && <StaleNotice error={query.error} />}
          <Paper withBorder p="md" radius="md" mb="md">
            <Group gap="xl">
              <Text size="sm">
                <Text span fw={700} ff="monospace" size="lg">
                  {alive.length}
                </Text>{' '}
                alive
              </Text>
              <Text size="sm" c={nodes.length - alive.length > 0 ? 'red' : 'dimmed'}>
                <Text span fw={700} ff="monospace" size="lg">
                  {nodes.length - alive.length}
                </Text>{' '}
                dead
              </Text>
              <Text size="sm">
                <Text span fw={700} ff="monospace" size="lg">
                  {alive.reduce((sum, n) => sum + n.firedLastMinute, 0)}
                </Text>{' '}
                runs fired in the last minute
              </Text>
            </Group>
          </Paper>
          {nodes.length === 0 ? (
            <Empty title="No nodes reported" description="Nodes register themselves when they start. Start one with npm start." />
          ) : (
            <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} spacing="md">
              {sorted.map((node) => (
                <NodeCard key={node.id} node={node} now={now} />
              ))}
            </SimpleGrid>
          )}
        </>
      )}
    </>
  );
}
