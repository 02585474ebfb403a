// The task list: a table on wide screens, a stack of cards on a phone.
import { Link } from 'react-router-dom';
import { Card, Group, Stack, Table, Text } from '@mantine/core';
import type { TaskView as Task } from '../api/tasks';
import { KindBadge, RunStatusBadge, TaskStateBadge } from './Badges';
import { Instant } from './Instant';

function LastRun({ task }: { task: Task }) {
  if (!task.lastRun) {
    return (
      <Text size="sm" c="dimmed" className="nowrap">
        never ran
      </Text>
    );
  }
  return (
    <Stack gap={2} align="flex-start">
      <RunStatusBadge status={task.lastRun.status} />
      <Instant iso={task.lastRun.startedAt ?? task.lastRun.scheduledFor} size="xs" compact />
    </Stack>
  );
}

function Key({ task }: { task: Task }) {
  if (!task.key) return <Text size="sm" c="dimmed">—</Text>;
  return (
    <Text size="sm" ff="monospace" truncate title={task.key} data-field="key">
      {task.key}
    </Text>
  );
}

function NextRun({ task }: { task: Task }) {
  const empty = task.state === 'paused' ? 'paused' : task.state === 'completed' ? 'done' : '—';
  return <Instant iso={task.nextRunAt} relative compact empty={empty} />;
}

export function TasksTable({ tasks }: { tasks: Task[] }) {
  return (
    <Table.ScrollContainer minWidth={960}>
      <Table verticalSpacing="sm" highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Key</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>Schedule</Table.Th>
            <Table.Th>Next run</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Last run</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tasks.map((task) => (
            <Table.Tr key={task.id} data-task-id={task.id}>
              <Table.Td maw={260} miw={140}>
                <Link className="table-link" to={`/tasks/${task.id}`} style={{ overflowWrap: 'break-word' }}>
                  {task.name}
                </Link>
              </Table.Td>
              <Table.Td maw={240} miw={130}>
                <Key task={task} />
              </Table.Td>
              <Table.Td>
                <KindBadge kind={task.kind} />
              </Table.Td>
              <Table.Td maw={280}>
                <Text size="sm">{task.description}</Text>
              </Table.Td>
              <Table.Td>
                <NextRun task={task} />
              </Table.Td>
              <Table.Td>
                <TaskStateBadge state={task.state} />
              </Table.Td>
              <Table.Td>
                <LastRun task={task} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

export function TaskCards({ tasks }: { tasks: Task[] }) {
  return (
    <Stack gap="sm">
      {tasks.map((task) => (
        <Card key={task.id} withBorder padding="sm" data-task-id={task.id}>
          <Group justify="space-between" wrap="nowrap" align="flex-start">
            <Link className="table-link" to={`/tasks/${task.id}`} style={{ overflowWrap: 'break-word' }}>
              {task.name}
            </Link>
            <TaskStateBadge state={task.state} />
          </Group>
          {task.key && (
            <Text size="xs" c="dimmed" ff="monospace" style={{ overflowWrap: 'anywhere' }} data-field="key">
              {task.key}
            </Text>
          )}
          <Text size="sm" c="dimmed" mt={4}>
            {task.description}
          </Text>
          <Group justify="space-between" mt="sm" align="flex-end">
            <Stack gap={2}>
              <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
                Next run
              </Text>
              <NextRun task={task} />
            </Stack>
            <Stack gap={4} align="flex-end">
              <KindBadge kind={task.kind} />
              {task.lastRun && (
                <Group gap={6} wrap="nowrap">
                  <Text size="xs" c="dimmed">
                    last run
                  </Text>
                  <RunStatusBadge status={task.lastRun.status} />
                </Group>
              )}
            </Stack>
          </Group>
        </Card>
      ))}
    </Stack>
  );
}
