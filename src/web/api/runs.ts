// Runs (executions): newest first, cursor-paginated; the event stream invalidates these keys.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Static } from '@sinclair/typebox';
import type { RetryManyBody, RetryManyResult, Run, RunPage, RunStatus } from '../../shared/schemas';
import { request } from './client';

/** A run as the views read it (with its task's client key and the run it retries). */
export type RunView = Run;

export interface RunListFilters {
  taskId?: string;
  status?: RunStatus;
  /** runs of tasks whose client key starts with this */
  keyPrefix?: string;
  /** runs of webhook tasks whose URL has this origin (https://host:port) */
  origin?: string;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

/**
 * Which part of the log: `executed` = scheduled up to now (what ran, or should have);
 * `upcoming` = claimed ahead and waiting for their instant. The bound is "now" at the moment
 * of each fetch, so it is not part of the query key and a refetch moves it forward.
 */
export type RunSection = 'executed' | 'upcoming';

export const runKeys = {
  all: ['runs'] as const,
  list: (filters: RunListFilters, section?: RunSection) => [...runKeys.all, 'list', section ?? 'all', filters] as const,
};

export const fetchRuns = (filters: RunListFilters, signal?: AbortSignal) =>
  request<RunPage>('/api/runs', { query: { ...filters }, signal });

function sectionFilters(filters: RunListFilters, section: RunSection | undefined): RunListFilters {
  const now = new Date().toISOString();
  if (section === 'executed') return { ...filters, to: filters.to ?? now };
  if (section === 'upcoming') return { ...filters, status: 'pending', from: now };
  return filters;
}

export function useRuns(filters: RunListFilters, options: { refetchInterval?: number; section?: RunSection; enabled?: boolean } = {}) {
  return useQuery({
    queryKey: runKeys.list(filters, options.section),
    queryFn: ({ signal }) => fetchRuns(sectionFilters(filters, options.section), signal),
    placeholderData: keepPreviousData,
    refetchInterval: options.refetchInterval,
    enabled: options.enabled,
  });
}

export function useRetryRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => request<RunView>(`/api/runs/${encodeURIComponent(id)}/retry`, { method: 'POST' }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: runKeys.all });
      void client.invalidateQueries({ queryKey: ['stats'] });
    },
  });
}

/** Redrives the failed webhook runs of a task or of an origin, newest first, at most `limit`. */
export function useRetryMany() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: RetryManyBody) => request<Static<typeof RetryManyResult>>('/api/runs/retry', { method: 'POST', body }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: runKeys.all });
      void client.invalidateQueries({ queryKey: ['stats'] });
    },
  });
}

/** A failed webhook run can be redriven (POST /api/runs/{id}/retry). */
export const isRetryable = (run: RunView) => run.status === 'failed' && Array.isArray(run.deliveries) && run.deliveries.length > 0;

