// Cluster membership. Heartbeats change without any event, so this polls as well.
import { useQuery } from '@tanstack/react-query';
import type { Cluster } from '../../shared/schemas';
import { request } from './client';

export const clusterKeys = { all: ['cluster'] as const };

export const fetchCluster = (signal?: AbortSignal) => request<Cluster>('/api/cluster', { signal });

export function useCluster() {
  return useQuery({
    queryKey: clusterKeys.all,
    queryFn: ({ signal }) => fetchCluster(signal),
    refetchInterval: 2_000,
  });
}
