import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Sql } from './db.js';
import { NoticeListener, parseNotice, type Notice } from './notices.js';

describe('parseNotice', () => {
  it('accepts every topic in its declared shape', () => {
    const samples: Notice[] = [
      { t: 'task', id: 'a', change: 'updated', wake: true, cancelled: false },
      { t: 'task', id: 'a', change: 'triggered' },
      { t: 'runs', node: 'n1', count: 3 },
      { t: 'wake' },
    ];
    for (const n of samples) expect(parseNotice(JSON.stringify(n))).toEqual(n);
  });

  it('refuses what is not a notice instead of casting it', () => {
    expect(parseNotice('not json')).toBeUndefined();
    expect(parseNotice('{"t":"task","id":"a","change":"renamed"}')).toBeUndefined();
    expect(parseNotice('{"t":"runs","node":"n1","count":"3"}')).toBeUndefined();
    expect(parseNotice('{"t":"other"}')).toBeUndefined();
    expect(parseNotice('null')).toBeUndefined();
  });
});

describe('NoticeListener', () => {
  it('hands a notice to the subscribers of its topic only, and a throwing subscriber does not stop the others', () => {
    const l = new NoticeListener({ sql: undefined as unknown as Sql, log: pino({ level: 'silent' }) });
    const seen: string[] = [];
    l.subscribe('task', () => {
      throw new Error('boom');
    });
    const off = l.subscribe('task', (n) => seen.push(`task:${n.id}`));
    l.subscribe('wake', () => seen.push('wake'));
    l.dispatch({ t: 'task', id: 'x', change: 'created' });
    l.dispatch({ t: 'runs', node: 'n', count: 1 });
    l.dispatch({ t: 'wake' });
    off();
    l.dispatch({ t: 'task', id: 'y', change: 'created' });
    expect(seen).toEqual(['task:x', 'wake']);
  });
});
