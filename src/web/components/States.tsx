// Loading, empty and error states that say what happened and what to do next.
import type { ReactNode } from 'react';
import { Alert, Button, EmptyState, Paper, Skeleton, Stack } from '@mantine/core';
import { isApiError } from '../api/client';
import { IconAlert, IconInbox, IconPlugOff, IconRefresh } from './icons';

export function LoadingRows({ rows = 5, height = 36 }: { rows?: number; height?: number }) {
  return (
    <Stack gap="xs" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} height={height} radius="sm" />
      ))}
    </Stack>
  );
}

export function Empty({ title, description, action }: { title: string; description?: ReactNode; action?: ReactNode }) {
  return (
    <EmptyState py="xl" icon={<IconInbox size={28} />} withIndicatorBackground title={title} description={description}>
      {action && <EmptyState.Actions>{action}</EmptyState.Actions>}
    </EmptyState>
  );
}

export function describeError(error: unknown): { title: string; description: string; retry: boolean } {
  if (isApiError(error)) {
    if (error.isNetwork) {
      return {
        title: "Can't reach the Sundial server",
        description: `Nothing answers at ${window.location.host}. Check that the node is running (npm start), or open the UI on another node of the cluster; this page retries by itself.`,
        retry: true,
      };
    }
    if (error.status === 404) return { title: 'Not found', description: error.message, retry: false };
    if (error.status >= 500) {
      return { title: 'The server ran into a problem', description: `${error.message} Try again in a moment; if it persists, check the node's log.`, retry: true };
    }
    return { title: 'The request was refused', description: error.message, retry: false };
  }
  return { title: 'Something went wrong', description: error instanceof Error ? error.message : String(error), retry: true };
}

export function ErrorState({ error, onRetry, action }: { error: unknown; onRetry?: () => void; action?: ReactNode }) {
  const { title, description, retry } = describeError(error);
  const network = isApiError(error) && error.isNetwork;
  return (
    <Paper withBorder radius="md" p="lg" role="alert">
      <EmptyState
        icon={network ? <IconPlugOff size={28} /> : <IconAlert size={28} />}
        variant="light"
        color={network ? 'gray' : 'red'}
        title={title}
        description={description}
      >
        {(retry && onRetry) || action ? (
          <EmptyState.Actions>
            {retry && onRetry && (
              <Button variant="default" leftSection={<IconRefresh size={16} />} onClick={onRetry}>
                Try again
              </Button>
            )}
            {action}
          </EmptyState.Actions>
        ) : null}
      </EmptyState>
    </Paper>
  );
}

/** Shown above data that is still on screen but could not be refreshed. */
export function StaleNotice({ error }: { error: unknown }) {
  const { title, description } = describeError(error);
  return (
    <Alert color="orange" variant="light" mb="sm" icon={<IconAlert size={18} />} title={title} role="status">
      {description} Meanwhile this shows the last data received.
    </Alert>
  );
}
