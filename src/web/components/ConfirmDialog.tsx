// A dialog that asks before an action: what the action does, its error if it failed, and
// two buttons, the one that keeps things as they are first.
import type { ReactNode } from 'react';
import { Button, Group, Modal, Stack, Text } from '@mantine/core';

export function ConfirmDialog({
  opened,
  onClose,
  title,
  children,
  error,
  keepLabel = 'Cancel',
  confirmLabel,
  confirmColor,
  onConfirm,
  pending = false,
  disabled = false,
  focusConfirm = false,
}: {
  opened: boolean;
  onClose: () => void;
  title: ReactNode;
  /** what the action does */
  children: ReactNode;
  /** the action's failure, shown above the buttons */
  error?: ReactNode;
  keepLabel?: string;
  confirmLabel: ReactNode;
  confirmColor: string;
  onConfirm: () => void;
  pending?: boolean;
  disabled?: boolean;
  /** focus the action's button when the dialog opens (else the one that keeps things) */
  focusConfirm?: boolean;
}) {
  return (
    <Modal opened={opened} onClose={onClose} title={title} centered>
      <Stack gap="sm">
        {children}
        {error && (
          <Text size="sm" c="red" role="alert">
            {error}
          </Text>
        )}
        <Group justify="flex-end" mt="xs">
          <Button variant="default" onClick={onClose} data-autofocus={focusConfirm ? undefined : true}>
            {keepLabel}
          </Button>
          <Button color={confirmColor} onClick={onConfirm} loading={pending} disabled={disabled} data-autofocus={focusConfirm ? true : undefined}>
            {confirmLabel}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
