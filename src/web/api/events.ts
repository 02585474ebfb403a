// The event stream (GET /api/events). Events are hints that something changed, not data:
// each one invalidates the TanStack queries it affects, throttled per query family so a
// busy cluster cannot make the UI hammer the server. EventSource reconnects by itself after
// a network error; after a refused connection it gives up, so we retry with backoff.
import { createContext, createElement, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { ServerEvent } from '../../shared/schemas';
import { eventsUrl, useAuth } from './auth';
import { createKeyedThrottle, type KeyedThrottle } from '../lib/throttle';
import { clusterKeys } from './cluster';
import { runKeys } from './runs';
import { statsKeys } from './stats';
import { taskKeys } from './tasks';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

const REFETCH_INTERVAL_MS = 1000;
const MAX_BACKOFF_MS = 15_000;

/** Which query families an event makes stale. */
export function keysForEvent(event: ServerEvent): ReadonlyArray<readonly string[]> {
  switch (event.type) {
    case 'runs':
      // A run changes the run log, the counters, the node's recent-run count, and the
      // task's lastRun / nextRunAt.
      return [runKeys.all, statsKeys.all, clusterKeys.all, taskKeys.all];
    case 'tasks':
      return event.change === 'triggered' ? [taskKeys.all, runKeys.all, statsKeys.all] : [taskKeys.all, statsKeys.all];
  }
}

export function parseEvent(type: string, data: string): ServerEvent | null {
  try {
    const body = JSON.parse(data) as Record<string, unknown>;
    if (type === 'runs') return { type, nodeId: String(body.nodeId ?? ''), count: Number(body.count ?? 0) };
    if (type === 'tasks') return { type, taskId: String(body.taskId ?? ''), change: body.change as never };
  } catch {
    // a malformed hint is ignored; the periodic refetches still keep views correct
  }
  return null;
}

function invalidate(client: QueryClient, throttle: KeyedThrottle, event: ServerEvent) {
  for (const key of keysForEvent(event)) {
    throttle(key.join('/'), () => void client.invalidateQueries({ queryKey: key }));
  }
}

const LiveContext = createContext<LiveStatus>('connecting');

export function useLiveStatus(): LiveStatus {
  return useContext(LiveContext);
}

/** Opens the event stream for the lifetime of the app and provides its status. */
export function LiveEventsProvider({ children, url = '/api/events' }: { children: ReactNode; url?: string }) {
  const client = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>('connecting');
  // reconnect with the new token after signing in
  const { token } = useAuth();

  useEffect(() => {
    const throttle = createKeyedThrottle(REFETCH_INTERVAL_MS);
    let source: EventSource | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;

    const connect = () => {
      source = new EventSource(eventsUrl(url, token));
      source.addEventListener('open', () => {
        // Anything may have changed before the stream opened, while we were away or, on the
        // first open, between a view's first fetch and now (a run that succeeded then
        // stayed "pending" on screen: the UI test of a retry caught it): refresh every view once.
        void client.invalidateQueries();
        failures = 0;
        setStatus('live');
      });
      source.addEventListener('error', () => {
        // Losing the stream is often the first sign the node went away: re-check what is on
        // screen now, so views say so instead of showing data that silently stopped moving.
        if (failures === 0) void client.refetchQueries({ type: 'active' });
        failures += 1;
        setStatus('reconnecting');
        if (source?.readyState === EventSource.CLOSED && !stopped) {
          source.close();
          const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(failures - 1, 4));
          retryTimer = setTimeout(connect, delay);
        }
      });
      for (const type of ['runs', 'tasks'] as const) {
        source.addEventListener(type, (message) => {
          const event = parseEvent(type, (message as MessageEvent<string>).data);
          if (event) invalidate(client, throttle, event);
        });
      }
    };
    connect();

    return () => {
      stopped = true;
      clearTimeout(retryTimer);
      throttle.cancel();
      source?.close();
    };
  }, [client, url, token]);

  return createElement(LiveContext.Provider, { value: status }, children);
}
