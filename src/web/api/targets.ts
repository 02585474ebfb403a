// Per-origin webhook delivery state (GET /api/targets), merged by the server over live nodes.
import { useQuery } from '@tanstack/react-query';
import type { Static } from '@sinclair/typebox';
import type { TargetItem, Targets } from '../../shared/schemas';
import { request } from './client';

export type Target = Static<typeof TargetItem>;
export type CircuitState = Target['circuit'];

export const targetKeys = { all: ['targets'] as const };

export const fetchTargets = (signal?: AbortSignal) => request<Targets>('/api/targets', { signal });

export function useTargets() {
  return useQuery({
    queryKey: targetKeys.all,
    queryFn: ({ signal }) => fetchTargets(signal),
    // Nodes snapshot their per-origin state at heartbeat; polling faster shows nothing new.
    refetchInterval: 3_000,
  });
}

/** Worst first: an open circuit, then half-open, then by failures, then by traffic. */
export function sortTargets(items: Target[]): Target[] {
  const rank: Record<CircuitState, number> = { open: 0, 'half-open': 1, closed: 2 };
  return [...items].sort(
    (a, b) => rank[a.circuit] - rank[b.circuit] || b.failures - a.failures || b.inFlight + b.queued - (a.inFlight + a.queued) || a.origin.localeCompare(b.origin),
  );
}
