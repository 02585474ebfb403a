// Cursor pagination: the API hands out an opaque `nextCursor`; going back replays the
// cursors we already followed.
import { useCallback, useState } from 'react';
import { Button, Group, Text } from '@mantine/core';
import { IconChevronLeft, IconChevronRight } from './icons';

export function useCursorPages() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const page = cursors.length - 1;
  const next = useCallback((cursor: string) => setCursors((c) => [...c, cursor]), []);
  const previous = useCallback(() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)), []);
  const reset = useCallback(() => setCursors([undefined]), []);
  return { cursor: cursors[page], page, next, previous, reset };
}

interface PagerProps {
  page: number;
  nextCursor: string | null | undefined;
  onNext: (cursor: string) => void;
  onPrevious: () => void;
  label?: string;
}

export function Pager({ page, nextCursor, onNext, onPrevious, label }: PagerProps) {
  if (page === 0 && !nextCursor) return null;
  return (
    <Group justify="space-between" mt="md">
      <Button variant="default" size="xs" leftSection={<IconChevronLeft size={14} />} disabled={page === 0} onClick={onPrevious}>
        {label === 'time' ? 'Newer' : 'Previous'}
      </Button>
      <Text size="sm" c="dimmed">
        Page {page + 1}
      </Text>
      <Button
        variant="default"
        size="xs"
        rightSection={<IconChevronRight size={14} />}
        disabled={!nextCursor}
        onClick={() => nextCursor && onNext(nextCursor)}
      >
        {label === 'time' ? 'Older' : 'Next'}
      </Button>
    </Group>
  );
}
