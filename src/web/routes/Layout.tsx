// The app frame: header with the live indicator and "New task", navbar with the five views.
import { useEffect } from 'react';
import { NavLink as RouterNavLink, Outlet, useLocation, Link } from 'react-router-dom';
import { AppShell, Burger, Button, Group, NavLink, Stack, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { forgetToken, useAuth } from '../api/auth';
import { useLiveStatus } from '../api/events';
import { LiveIndicator } from '../components/LiveIndicator';
import { TimeModeToggle } from '../components/TimeMode';
import { IconGauge, IconHistory, IconPlus, IconServer, IconTarget, IconTasks, SundialLogo } from '../components/icons';
import { browserTimeZone } from '../lib/time';

const NAV = [
  { to: '/', label: 'Overview', icon: IconGauge, end: true },
  { to: '/tasks', label: 'Tasks', icon: IconTasks, end: false },
  { to: '/executions', label: 'Executions', icon: IconHistory, end: false },
  { to: '/targets', label: 'Targets', icon: IconTarget, end: false },
  { to: '/cluster', label: 'Cluster', icon: IconServer, end: false },
];

export function Layout() {
  const [opened, { toggle, close }] = useDisclosure(false);
  const live = useLiveStatus();
  const location = useLocation();
  const { token } = useAuth();
  useEffect(close, [location.pathname, close]);

  return (
    <>
    <a href="#content" className="skip-link">
      Skip to content
    </a>
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding={{ base: 'sm', sm: 'lg' }}
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Link to="/" style={{ display: 'flex', alignItems: 'center', gap: 10, color: 'inherit', textDecoration: 'none' }}>
              <SundialLogo />
              <Title order={1} size="h3" fw={700}>
                Sundial
              </Title>
            </Link>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <LiveIndicator status={live} />
            <Button component={Link} to="/tasks/new" leftSection={<IconPlus size={16} />} visibleFrom="xs">
              New task
            </Button>
            <Button component={Link} to="/tasks/new" hiddenFrom="xs" px="xs" aria-label="New task">
              <IconPlus size={18} />
            </Button>
          </Group>
        </Group>
      </AppShell.Header>

      <AppShell.Navbar p="sm" aria-label="Main">
        <AppShell.Section grow>
          {NAV.map(({ to, label, icon: Icon, end }) => (
            <NavLink
              key={to}
              component={RouterNavLink}
              to={to}
              end={end}
              label={label}
              leftSection={<Icon size={18} />}
              active={end ? location.pathname === to : location.pathname.startsWith(to)}
              variant="light"
              style={{ borderRadius: 'var(--mantine-radius-md)' }}
              mb={4}
            />
          ))}
        </AppShell.Section>
        <AppShell.Section>
          <Stack gap={6}>
            <Text size="xs" c="dimmed" fw={500}>
              Show times in
            </Text>
            <TimeModeToggle fullWidth />
            <Text size="xs" c="dimmed">
              Local: {browserTimeZone()}
            </Text>
            {token && (
              <Button variant="subtle" size="compact-xs" color="gray" onClick={() => (forgetToken(), window.location.reload())}>
                Sign out
              </Button>
            )}
          </Stack>
        </AppShell.Section>
      </AppShell.Navbar>

      <AppShell.Main>
        <div id="content" tabIndex={-1} style={{ maxWidth: 1280, margin: '0 auto', outline: 'none' }}>
          <Outlet />
        </div>
      </AppShell.Main>
    </AppShell>
    </>
  );
}
