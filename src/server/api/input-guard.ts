// Checks every request value once, before the schemas: what JSON can carry but
// PostgreSQL cannot store, and shapes that would make the server itself fail.
//  - U+0000: text and jsonb refuse it ("invalid byte sequence", "unsupported Unicode
//    escape sequence"); without this check it surfaces as a 500.
//  - unpaired surrogates ("\ud800" is valid JSON): not encodable as UTF-8; stored as
//    U+FFFD they would come back different from what was sent.
//  - nesting deeper than LIMITS.jsonMaxDepth: recursive serializers (ours, PostgreSQL's
//    jsonb parser) have a stack; a 256 KiB body can nest 100,000 levels deep.
// The walk is iterative for the same reason.
import { LIMITS } from '../../shared/schemas.js';
import { fieldError } from '../errors.js';

// An unpaired high surrogate, an unpaired low surrogate, or NUL.
const UNSTORABLE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\u0000/;

export function unstorable(s: string): boolean {
  return UNSTORABLE.test(s);
}

export interface InputProblem {
  field: string;
  message: string;
}

/**
 * Whether `value` holds anything findInputProblem would report, without building the
 * path of every value on the way: a 1,000-task batch has ~10,000 of them, and naming
 * each cost more than checking it. Only a request that fails is walked again for names.
 */
function mayHaveProblem(value: unknown): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return true;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= LIMITS.jsonMaxDepth) return true;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        values.push(v[i]);
        depths.push(depth + 1);
      }
      continue;
    }
    for (const k in v) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      if (UNSTORABLE.test(k)) return true;
      values.push((v as Record<string, unknown>)[k]);
      depths.push(depth + 1);
    }
  }
  return false;
}

/** The first problem found in `value` (a parsed body, query or params), or null. */
export function findInputProblem(value: unknown, prefix = ''): InputProblem | null {
  if (!mayHaveProblem(value)) return null;
  const stack: [unknown, string, number][] = [[value, prefix, 0]];
  while (stack.length) {
    const [v, path, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (unstorable(v)) return { field: path || 'body', message: `${path || 'the body'} contains NUL (\\u0000) or an unpaired UTF-16 surrogate, which cannot be stored` };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= LIMITS.jsonMaxDepth) {
      // name the top-level field: the full path of the 64th level says nothing more
      const top = path.split('.')[0] || 'body';
      return { field: top, message: `${top === 'body' ? 'the body' : top} is nested more than ${LIMITS.jsonMaxDepth} levels deep` };
    }
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    for (const [k, x] of entries) {
      const child = path ? `${path}.${k}` : k;
      if (unstorable(k)) return { field: path || 'body', message: `a key in ${path || 'the body'} contains NUL (\\u0000) or an unpaired UTF-16 surrogate, which cannot be stored` };
      stack.push([x, child, depth + 1]);
    }
  }
  return null;
}

/** Throws a 400 naming the field for the first unusable value in a request. */
export function assertUsableInput(parts: { body?: unknown; query?: unknown; params?: unknown }): void {
  for (const part of [parts.params, parts.query, parts.body]) {
    const p = findInputProblem(part);
    if (p) throw fieldError('VALIDATION_FAILED', p.field, p.message);
  }
}
