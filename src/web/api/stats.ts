// Counters and per-minute lag percentiles for the overview page, and the load that is coming.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { Stats, Upcoming } from '../../shared/schemas';
import { request } from './client';

export const statsKeys = {
  all: ['stats'] as const,
  upcoming: (hours: number) => ['stats', 'upcoming', hours] as const,
};

export const fetchStats = (signal?: AbortSignal) => request<Stats>('/api/stats', { signal });

export function useStats() {
  return useQuery({
    queryKey: statsKeys.all,
    queryFn: ({ signal }) => fetchStats(signal),
    // The lag chart moves every minute even when nothing new fires.
    refetchInterval: 10_000,
  });
}

export const fetchUpcoming = (hours: number, signal?: AbortSignal) =>
  request<Upcoming>('/api/stats/upcoming', { query: { hours }, signal });

export function useUpcoming(hours: number) {
  return useQuery({
    queryKey: statsKeys.upcoming(hours),
    queryFn: ({ signal }) => fetchUpcoming(hours, signal),
    placeholderData: keepPreviousData,
    // A projection over hours: it changes when tasks change (the event stream invalidates
    // ['stats']) and when the minute turns, so every 30 s is plenty.
    refetchInterval: 30_000,
    staleTime: 5_000,
  });
}
