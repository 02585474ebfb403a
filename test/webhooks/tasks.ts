// What the webhook test files do to a node: create a task due in a moment, read its
// runs, and wait for its run's final status.
import { expect } from 'vitest';
import type { Run, Task } from '../../src/shared/schemas.js';
import { api, eventually } from '../support/node.js';

/** `url` is read on each call: the node is started in the file's beforeAll. */
export function webhookTasks(url: () => string) {
  const soon = (ms = 300) => new Date(Date.now() + ms).toISOString();

  async function createTask(body: Record<string, unknown>): Promise<Task> {
    const res = await api<Task>(url(), 'POST', '/api/tasks', { name: 'hook', schedule: { type: 'once', at: soon() }, ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  async function runsOf(taskId: string): Promise<Run[]> {
    return (await api<{ items: Run[] }>(url(), 'GET', `/api/runs?taskId=${taskId}&limit=100`)).body.items;
  }

  /** The first run of the task once it has a final status. */
  async function finalRun(taskId: string, timeoutMs = 30_000): Promise<Run> {
    return eventually(async () => {
      const [run] = await runsOf(taskId);
      return run && !['pending', 'running'].includes(run.status) ? run : undefined;
    }, timeoutMs);
  }

  return { soon, createTask, runsOf, finalRun };
}
