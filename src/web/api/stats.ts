// Counters and per-minute lag percentiles for the overview page.
import { useQuery } from '@tanstack/react-query';
import type { Stats } from '../../shared/schemas';
import { request } from './client';

export const statsKeys = { all: ['stats'] as const };

export const fetchStats = (signal?: AbortSignal) => request<Stats>('/api/stats', { signal });

export function useStats() {
  return useQuery({
    queryKey: statsKeys.all,
    queryFn: ({ signal }) => fetchStats(signal),
    // The lag chart moves every minute even when nothing new fires.
    refetchInterval: 10_000,
  });
}
