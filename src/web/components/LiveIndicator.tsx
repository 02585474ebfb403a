import { Badge, Tooltip } from '@mantine/core';
import type { LiveStatus } from '../api/events';

const LABEL: Record<LiveStatus, { text: string; color: string; help: string }> = {
  live: { text: 'Live', color: 'teal', help: 'Connected to the event stream: views update as tasks fire.' },
  connecting: { text: 'Connecting', color: 'gray', help: 'Opening the event stream…' },
  reconnecting: {
    text: 'Reconnecting',
    color: 'orange',
    help: 'Lost the event stream; retrying. Views still refresh periodically.',
  },
};

export function LiveIndicator({ status }: { status: LiveStatus }) {
  const { text, color, help } = LABEL[status];
  return (
    <Tooltip label={help} withArrow multiline w={240}>
      <Badge
        variant="dot"
        color={color}
        size="lg"
        radius="sm"
        tabIndex={0}
        role="status"
        aria-live="polite"
        data-live={status}
        className={status === 'live' ? 'live-dot' : undefined}
      >
        {text}
      </Badge>
    </Tooltip>
  );
}
