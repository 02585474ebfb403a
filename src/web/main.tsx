import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router-dom';
import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import '@mantine/core/styles.css';
import '@mantine/dates/styles.css';
import '@mantine/notifications/styles.css';
import './styles.css';
import { ApiError } from './api/client';
import { LiveEventsProvider } from './api/events';
import { TimeModeProvider } from './components/TimeMode';
import { TokenPrompt } from './components/TokenPrompt';
import { theme } from './theme';
import { Layout } from './routes/Layout';
import { OverviewRoute } from './routes/OverviewRoute';
import { TasksRoute } from './routes/TasksRoute';
import { TaskDetailRoute } from './routes/TaskDetailRoute';
import { TaskFormRoute } from './routes/TaskFormRoute';
import { ExecutionsRoute } from './routes/ExecutionsRoute';
import { ClusterRoute } from './routes/ClusterRoute';
import { TargetsRoute } from './routes/TargetsRoute';
import { NotFoundRoute } from './routes/NotFoundRoute';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Live views are kept fresh by the event stream; this is the fallback when it is down.
      staleTime: 2_000,
      refetchInterval: 30_000,
      // A 4xx is an answer, not a glitch: retrying it only delays the message.
      retry: (failures, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && failures < 2,
      retryDelay: (attempt) => Math.min(1000 * 2 ** attempt, 4000),
    },
  },
});

const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { index: true, element: <OverviewRoute /> },
      { path: 'tasks', element: <TasksRoute /> },
      { path: 'tasks/new', element: <TaskFormRoute /> },
      { path: 'tasks/:id', element: <TaskDetailRoute /> },
      { path: 'tasks/:id/edit', element: <TaskFormRoute /> },
      { path: 'executions', element: <ExecutionsRoute /> },
      { path: 'targets', element: <TargetsRoute /> },
      { path: 'cluster', element: <ClusterRoute /> },
      { path: '*', element: <NotFoundRoute /> },
    ],
  },
]);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto">
      {/* top-center: over the header, away from the tables and buttons people click next */}
      <Notifications position="top-center" autoClose={4000} limit={3} />
      <QueryClientProvider client={queryClient}>
        <TokenPrompt />
        <LiveEventsProvider>
          <TimeModeProvider>
            <RouterProvider router={router} />
          </TimeModeProvider>
        </LiveEventsProvider>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
