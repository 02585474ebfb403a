// Asks for the API token when the server answers 401, checks it, keeps it in this browser,
// and refreshes every view. The server decides whether a token is needed (docs/security.md).
import { useState, type FormEvent } from 'react';
import { Button, Modal, PasswordInput, Stack, Text } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { setToken, tryToken, useAuth } from '../api/auth';

export function TokenPrompt() {
  const { required } = useAuth();
  const client = useQueryClient();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) return setError('Enter the token.');
    setChecking(true);
    setError(null);
    try {
      if (!(await tryToken(token))) return setError('This token was not accepted.');
      setToken(token);
      setValue('');
      void client.invalidateQueries();
    } catch {
      setError('Cannot reach the Sundial server.');
    } finally {
      setChecking(false);
    }
  };

  return (
    <Modal opened={required} onClose={() => {}} withCloseButton={false} closeOnEscape={false} closeOnClickOutside={false} title="Sign in to Sundial" centered>
      <form onSubmit={submit}>
        <Stack gap="sm">
          <Text size="sm">
            This server requires an API token: the value of <code>SUNDIAL_API_TOKEN</code> (or a read-only{' '}
            <code>SUNDIAL_READ_TOKEN</code>), or the token a node printed when it first started.
          </Text>
          <PasswordInput
            label="API token"
            value={value}
            onChange={(e) => setValue(e.currentTarget.value)}
            error={error}
            autoFocus
            autoComplete="current-password"
            data-autofocus
          />
          <Text size="xs" c="dimmed">
            It is kept in this browser until you sign out.
          </Text>
          <Button type="submit" loading={checking}>
            Sign in
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}
