// Tasks: query keys, fetch functions and mutations. Mutations write the returned task into
// the detail cache and invalidate lists, so every view shows the server's answer at once.
import { keepPreviousData, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { Static } from '@sinclair/typebox';
import type { Cancelled, Run, Task, TaskCreate, TaskPage, TaskPatch, TaskState } from '../../shared/schemas';
import { request } from './client';

export type TaskView = Task;
export type TaskPageView = TaskPage;

export interface TaskListFilters {
  q?: string;
  /** tasks whose client key starts with this */
  keyPrefix?: string;
  /** ask for `total`, the number of tasks matching the filters (not just this page) */
  count?: boolean;
  state?: TaskState;
  kind?: Task['kind'];
  limit?: number;
  cursor?: string;
}

export const taskKeys = {
  all: ['tasks'] as const,
  lists: () => [...taskKeys.all, 'list'] as const,
  list: (filters: TaskListFilters) => [...taskKeys.lists(), filters] as const,
  detail: (id: string) => [...taskKeys.all, 'detail', id] as const,
  prefixCount: (keyPrefix: string) => [...taskKeys.all, 'prefix-count', keyPrefix] as const,
};

export const fetchTasks = (filters: TaskListFilters, signal?: AbortSignal) =>
  request<TaskPageView>('/api/tasks', { query: { ...filters }, signal });

export const fetchTask = (id: string, signal?: AbortSignal) =>
  request<Task>(`/api/tasks/${encodeURIComponent(id)}`, { signal });

export function useTasks(filters: TaskListFilters) {
  return useQuery({
    queryKey: taskKeys.list(filters),
    queryFn: ({ signal }) => fetchTasks(filters, signal),
    placeholderData: keepPreviousData,
  });
}

export function useTask(id: string | undefined) {
  return useQuery({
    queryKey: taskKeys.detail(id ?? ''),
    queryFn: ({ signal }) => fetchTask(id!, signal),
    enabled: Boolean(id),
  });
}

function randomKey(): string {
  // crypto.randomUUID exists only in secure contexts; a node reached over plain http on a LAN is not one.
  if (typeof crypto.randomUUID === 'function' && window.isSecureContext) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function storeTask(client: QueryClient, task: Task) {
  client.setQueryData(taskKeys.detail(task.id), task);
  void client.invalidateQueries({ queryKey: taskKeys.all });
  void client.invalidateQueries({ queryKey: ['stats'] });
}

export function useCreateTask() {
  const client = useQueryClient();
  return useMutation({
    // One Idempotency-Key per submission: a retried request cannot create the task twice.
    mutationFn: (body: TaskCreate) =>
      request<Task>('/api/tasks', { method: 'POST', body, headers: { 'idempotency-key': randomKey() } }),
    onSuccess: (task) => storeTask(client, task),
  });
}

export function useUpdateTask(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: TaskPatch) => request<Task>(`/api/tasks/${encodeURIComponent(id)}`, { method: 'PATCH', body }),
    onSuccess: (task) => storeTask(client, task),
  });
}

export type TaskAction = 'pause' | 'resume';

export function useTaskAction(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (action: TaskAction) =>
      request<Task>(`/api/tasks/${encodeURIComponent(id)}/${action}`, { method: 'POST' }),
    onSuccess: (task) => storeTask(client, task),
  });
}

export function useTriggerTask(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => request<Run>(`/api/tasks/${encodeURIComponent(id)}/trigger`, { method: 'POST' }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['runs'] });
      void client.invalidateQueries({ queryKey: taskKeys.detail(id) });
    },
  });
}

export function useDeleteTask(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => request<void>(`/api/tasks/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      client.removeQueries({ queryKey: taskKeys.detail(id) });
      void client.invalidateQueries({ queryKey: taskKeys.lists() });
      void client.invalidateQueries({ queryKey: ['stats'] });
    },
  });
}

/**
 * How many tasks a cancel-by-prefix would cancel, fetched fresh (never from a cached page)
 * each time the confirmation opens: the number shown is the number at that moment.
 */
export function useTaskPrefixCount(keyPrefix: string, enabled: boolean) {
  return useQuery({
    queryKey: taskKeys.prefixCount(keyPrefix),
    queryFn: ({ signal }) => fetchTasks({ keyPrefix, count: true, limit: 1 }, signal),
    enabled: enabled && keyPrefix.length > 0,
    staleTime: 0,
    gcTime: 0,
    select: (page) => page.total ?? null,
  });
}

export function useCancelByPrefix() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (keyPrefix: string) => request<Static<typeof Cancelled>>('/api/tasks', { method: 'DELETE', query: { keyPrefix } }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: taskKeys.all });
      void client.invalidateQueries({ queryKey: ['runs'] });
      void client.invalidateQueries({ queryKey: ['stats'] });
    },
  });
}
