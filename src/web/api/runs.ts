// Runs (executions): newest first, cursor-paginated; the event stream invalidates these keys.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { RunPage, RunStatus } from '../../shared/schemas';
import { request } from './client';

export interface RunListFilters {
  taskId?: string;
  status?: RunStatus;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

export const runKeys = {
  all: ['runs'] as const,
  list: (filters: RunListFilters) => [...runKeys.all, 'list', filters] as const,
};

export const fetchRuns = (filters: RunListFilters, signal?: AbortSignal) =>
  request<RunPage>('/api/runs', { query: { ...filters }, signal });

export function useRuns(filters: RunListFilters, options: { refetchInterval?: number } = {}) {
  return useQuery({
    queryKey: runKeys.list(filters),
    queryFn: ({ signal }) => fetchRuns(filters, signal),
    placeholderData: keepPreviousData,
    refetchInterval: options.refetchInterval,
  });
}
