import { describe, expect, it } from 'vitest';
import type { Task } from '../../../shared/schemas';
import {
  detectPreset,
  emptyFormValues,
  formFieldForPath,
  formValuesFromTask,
  parsePayload,
  presetExpression,
  presetFor,
  toTaskCreate,
  toTaskPatch,
  validateLocally,
  type TaskFormValues,
} from './model';

const NOW = Date.parse('2026-11-23T12:00:20Z');

function task(overrides: Partial<Task> = {}): Task {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    key: null,
    maxLatenessMs: null,
    name: 'Nightly report',
    kind: 'cron',
    schedule: { type: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin', startAt: null, endAt: null },
    description: 'At 02:00 (Europe/Berlin)',
    payload: { report: 'sales' },
    action: { type: 'log' },
    misfirePolicy: 'fire_once',
    overlapPolicy: 'allow',
    state: 'active',
    nextRunAt: '2026-11-24T01:00:00.000Z',
    version: 3,
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    lastRun: null,
    ...overrides,
  };
}

describe('new task form', () => {
  it('starts as a one-time task ten minutes ahead, on a whole minute, in the given zone', () => {
    const values = emptyFormValues(NOW, 'Europe/Berlin');
    expect(values.kind).toBe('once');
    expect(values.onceZone).toBe('Europe/Berlin');
    expect(`${values.date} ${values.time}`).toBe('2026-11-23 13:11:00');
  });

  it('builds a one-time TaskCreate with the instant in UTC', () => {
    const values: TaskFormValues = { ...emptyFormValues(NOW, 'UTC'), name: ' Remind ', date: '2026-12-01', time: '09:00', onceZone: 'America/New_York' };
    expect(validateLocally(values)).toEqual({});
    expect(toTaskCreate(values)).toEqual({ name: 'Remind', schedule: { type: 'once', at: '2026-12-01T14:00:00.000Z' } });
  });

  it('builds a recurring TaskCreate with zone, bounds, payload and misfire policy', () => {
    const values: TaskFormValues = {
      ...emptyFormValues(NOW, 'UTC'),
      name: 'Tick',
      kind: 'cron',
      expression: '*/5 * * * * *',
      cronZone: 'Europe/Berlin',
      startAt: '2026-12-01 00:00:00',
      endAt: '',
      payload: '{"a": 1}',
      misfirePolicy: 'skip',
    };
    expect(toTaskCreate(values)).toEqual({
      name: 'Tick',
      schedule: { type: 'cron', expression: '*/5 * * * * *', timezone: 'Europe/Berlin', startAt: '2026-11-30T23:00:00.000Z', endAt: null },
      payload: { a: 1 },
      misfirePolicy: 'skip',
      overlapPolicy: 'allow',
    });
  });

  it('builds a webhook action, leaving defaults to the server', () => {
    const values: TaskFormValues = {
      ...emptyFormValues(NOW, 'UTC'),
      name: 'Ping',
      action: 'webhook',
      webhookUrl: ' https://hooks.example.com/x ',
      webhookMethod: 'PUT',
      webhookHeaders: '{"Authorization": "Bearer t"}',
      webhookMaxAttempts: 5,
    };
    expect(validateLocally(values)).toEqual({});
    expect(toTaskCreate(values).action).toEqual({
      type: 'webhook',
      url: 'https://hooks.example.com/x',
      method: 'PUT',
      headers: { Authorization: 'Bearer t' },
      maxAttempts: 5,
    });
  });

  it('checks webhook fields locally', () => {
    const values: TaskFormValues = { ...emptyFormValues(NOW, 'UTC'), name: 'x', action: 'webhook', webhookUrl: 'ftp://x', webhookHeaders: '["a"]', webhookBody: '{' };
    const errors = validateLocally(values);
    expect(errors.webhookUrl).toMatch(/http/);
    expect(errors.webhookHeaders).toMatch(/object/);
    expect(errors.webhookBody).toMatch(/JSON/);
    expect(validateLocally({ ...values, webhookHeaders: '{"X-N": 1}' }).webhookHeaders).toMatch(/string/);
  });

  it('sends runImmediatelyIfPast only when asked', () => {
    const values = { ...emptyFormValues(NOW, 'UTC'), name: 'x', runImmediatelyIfPast: true };
    expect(toTaskCreate(values).runImmediatelyIfPast).toBe(true);
  });

  it('reports local problems beside their fields', () => {
    const values: TaskFormValues = { ...emptyFormValues(NOW, 'UTC'), name: '', time: '', payload: '{oops' };
    const errors = validateLocally(values);
    expect(errors.name).toMatch(/name/);
    expect(errors.at).toMatch(/date and a time/);
    expect(errors.payload).toMatch(/^Not valid JSON/);
    expect(validateLocally({ ...values, kind: 'cron', expression: ' ' }).expression).toBeTruthy();
  });
});

describe('payload', () => {
  it('treats blank as absent and accepts any JSON value', () => {
    expect(parsePayload('  ')).toEqual({ ok: true, value: undefined, present: false });
    expect(parsePayload('42')).toEqual({ ok: true, value: 42, present: true });
    expect(parsePayload('null')).toEqual({ ok: true, value: null, present: true });
  });

  it('rejects payloads over 64 KiB', () => {
    const big = JSON.stringify({ s: 'x'.repeat(70_000) });
    const result = parsePayload(big);
    expect(result.ok).toBe(false);
  });
});

describe('editing', () => {
  it('loads a recurring task into the form in its own zone', () => {
    const values = formValuesFromTask(task({ schedule: { type: 'cron', expression: '0 2 * * *', timezone: 'Europe/Berlin', startAt: '2026-11-30T23:00:00.000Z', endAt: null } }), NOW, 'UTC');
    expect(values).toMatchObject({ kind: 'cron', expression: '0 2 * * *', cronZone: 'Europe/Berlin', startAt: '2026-12-01 00:00:00', endAt: '' });
    expect(JSON.parse(values.payload)).toEqual({ report: 'sales' });
  });

  it('patches only what changed, always with the version', () => {
    const t = task();
    const values = formValuesFromTask(t, NOW, 'UTC');
    expect(toTaskPatch(values, t)).toEqual({ version: 3 });
    expect(toTaskPatch({ ...values, expression: '0 3 * * *' }, t)).toEqual({
      version: 3,
      schedule: { type: 'cron', expression: '0 3 * * *', timezone: 'Europe/Berlin', startAt: null, endAt: null },
    });
    expect(toTaskPatch({ ...values, payload: '' }, t)).toEqual({ version: 3, payload: null });
    expect(toTaskPatch({ ...values, name: 'Renamed', misfirePolicy: 'skip' }, t)).toEqual({ version: 3, name: 'Renamed', misfirePolicy: 'skip' });
    expect(toTaskPatch({ ...values, overlapPolicy: 'skip' }, t)).toEqual({ version: 3, overlapPolicy: 'skip' });
  });

  it('round-trips a webhook task without spurious changes', () => {
    const t = task({ action: { type: 'webhook', url: 'https://h.example.com', headers: { 'X-Key': 'k' }, body: { a: 1 }, maxAttempts: 2 } });
    const values = formValuesFromTask(t, NOW, 'UTC');
    expect(values).toMatchObject({ action: 'webhook', webhookMethod: 'POST', webhookMaxAttempts: 2, webhookTimeoutMs: '' });
    expect(toTaskPatch(values, t)).toEqual({ version: 3 });
    expect(toTaskPatch({ ...values, action: 'log' }, t)).toEqual({ version: 3, action: { type: 'log' } });
  });

  it('loads a one-time task in the viewer zone and keeps the same instant', () => {
    const t = task({ kind: 'once', schedule: { type: 'once', at: '2026-12-01T14:00:00.000Z' } });
    const values = formValuesFromTask(t, NOW, 'America/New_York');
    expect([values.date, values.time]).toEqual(['2026-12-01', '09:00:00']);
    expect(toTaskPatch(values, t)).toEqual({ version: 3 });
  });
});

describe('server errors', () => {
  it('maps details.field to the input that shows it', () => {
    expect(formFieldForPath('schedule.expression', 'cron')).toBe('expression');
    expect(formFieldForPath('schedule.at', 'once')).toBe('at');
    expect(formFieldForPath('schedule.timezone', 'cron')).toBe('cronZone');
    expect(formFieldForPath('/body/schedule/endAt', 'cron')).toBe('endAt');
    expect(formFieldForPath('payload', 'cron')).toBe('payload');
    expect(formFieldForPath('name', 'once')).toBe('name');
    expect(formFieldForPath('action.url', 'once')).toBe('webhookUrl');
    expect(formFieldForPath('action.headers.X-Bad', 'once')).toBe('webhookHeaders');
    expect(formFieldForPath('overlapPolicy', 'cron')).toBe('overlapPolicy');
    expect(formFieldForPath('something.else', 'once')).toBeNull();
    expect(formFieldForPath(undefined, 'once')).toBeNull();
  });
});

describe('cron presets', () => {
  it('writes expressions', () => {
    expect(presetExpression({ id: 'everySeconds', seconds: 1 })).toBe('* * * * * *');
    expect(presetExpression({ id: 'everySeconds', seconds: 15 })).toBe('*/15 * * * * *');
    expect(presetExpression({ id: 'everySeconds', seconds: 0 })).toBeNull();
    expect(presetExpression({ id: 'everyMinute' })).toBe('* * * * *');
    expect(presetExpression({ id: 'hourly' })).toBe('0 * * * *');
    expect(presetExpression({ id: 'daily', time: '07:30' })).toBe('30 7 * * *');
    expect(presetExpression({ id: 'weekdays', time: '09:05' })).toBe('5 9 * * 1-5');
  });

  it('recognises what it wrote, and calls everything else custom', () => {
    for (const preset of [
      { id: 'everySeconds', seconds: 1 },
      { id: 'everySeconds', seconds: 15 },
      { id: 'everyMinute' },
      { id: 'hourly' },
      { id: 'daily', time: '07:30' },
      { id: 'weekdays', time: '09:05' },
    ] as const) {
      expect(detectPreset(presetExpression(preset)!)).toEqual(preset);
    }
    expect(detectPreset('0 0 1 * *')).toEqual({ id: 'custom' });
  });

  it('keeps the chosen time when switching between daily and weekdays', () => {
    expect(presetFor('weekdays', { id: 'daily', time: '06:15' })).toEqual({ id: 'weekdays', time: '06:15' });
    expect(presetFor('everySeconds', { id: 'hourly' })).toEqual({ id: 'everySeconds', seconds: 10 });
  });
});
