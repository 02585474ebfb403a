// Schedule previews: the server is the only cron implementation; the UI asks it for the
// description and the next occurrences (with DST marks) of whatever the user is typing.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { Preview, PreviewQuery } from '../../shared/schemas';
import { ApiError, request } from './client';

export const scheduleKeys = {
  all: ['schedules'] as const,
  preview: (query: PreviewQuery) => [...scheduleKeys.all, 'preview', query] as const,
};

export const fetchPreview = (query: PreviewQuery, signal?: AbortSignal) =>
  request<Preview>('/api/schedules/preview', { query: { ...query }, signal });

/** Preview of a cron expression; disabled while the expression is empty. */
export function usePreview(query: PreviewQuery | null) {
  return useQuery({
    queryKey: scheduleKeys.preview(query ?? { expression: '' }),
    queryFn: ({ signal }) => fetchPreview(query!, signal),
    enabled: query !== null && query.expression.trim() !== '',
    placeholderData: keepPreviousData,
    // A 400 is the answer (an invalid expression), not a transient failure worth retrying.
    retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
    staleTime: 5_000,
  });
}
