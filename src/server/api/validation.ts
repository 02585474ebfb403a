import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { ApiError } from '../errors.js';

// ajv-formats is CommonJS with a default export
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

function makeAjv(coerce: boolean) {
  // Bodies are validated strictly: unknown fields and wrong types are errors, never
  // silently dropped or coerced ("5" is not a number). Query strings are text by
  // nature, so they are coerced.
  const ajv = new Ajv({
    allErrors: false,
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: coerce,
    discriminator: true,
    strict: false,
  });
  addFormats(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: isDateTime });
  return ajv;
}

const DATE_TIME = /^\d{4}-\d\d-\d\d[Tt\s]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d(?::?\d\d)?)$/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const digits = (s: string, at: number, n: number) => {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 10 + s.charCodeAt(i) - 48;
  return v;
};

/**
 * RFC 3339 date-time with its offset required: what ajv-formats' full "date-time"
 * accepts (a real day of the month, 23:59:60 only as a UTC leap second), without its
 * split and regex match arrays. A million-task import checks a million instants; the
 * library's check allocated ~700 bytes each, a fifth of a batch's garbage (sampled heap
 * profile of POST /api/tasks/batch). validation.test.ts holds it to the library's answers.
 */
export function isDateTime(s: string): boolean {
  if (!DATE_TIME.test(s)) return false;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (month < 1 || month > 12 || day < 1 || day > (month === 2 && leap ? 29 : DAYS[month]!)) return false;
  const hr = digits(s, 11, 2);
  const min = digits(s, 14, 2);
  const sec = digits(s, 17, 2); // whole seconds: a fraction never reaches the next one
  let at = 19;
  if (s.charCodeAt(at) === 46 /* . */) while (++at < s.length && s.charCodeAt(at) >= 48 && s.charCodeAt(at) <= 57);
  let tzSign = 1;
  let tzH = 0;
  let tzM = 0;
  const sign = s.charCodeAt(at);
  if (sign === 43 /* + */ || sign === 45 /* - */) {
    tzSign = sign === 45 ? -1 : 1;
    tzH = digits(s, at + 1, 2);
    if (s.length > at + 3) tzM = digits(s, s.charCodeAt(at + 3) === 58 /* : */ ? at + 4 : at + 3, 2);
  }
  if (tzH > 23 || tzM > 59) return false;
  if (hr <= 23 && min <= 59 && sec <= 59) return true;
  // a leap second: 23:59:60 in UTC
  const utcMin = min - tzM * tzSign;
  const utcHr = hr - tzH * tzSign - (utcMin < 0 ? 1 : 0);
  return (utcHr === 23 || utcHr === -1) && (utcMin === 59 || utcMin === -1) && sec <= 60;
}

const bodyAjv = makeAjv(false);
const queryAjv = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;

const PART_PREFIX: Record<string, string> = { body: '', querystring: '', params: '', headers: 'header.' };

/** Turns the first ajv error into our error shape, naming the field as a dotted path. */
export function validationToApiError(errors: ErrorObject[], part: string): ApiError {
  const e = errors[0]!;
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'required') path.push(String(e.params.missingProperty));
  if (e.keyword === 'additionalProperties') {
    path.push(String(e.params.additionalProperty));
    message = 'is not a known field';
  }
  if (e.keyword === 'discriminator') {
    path.push(String(e.params.tag));
    message = e.params.error === 'tag' ? "is required and must be a string" : `must be one of the known types (got ${JSON.stringify(e.params.tagValue)})`;
    if (path.join('.') === 'schedule.type') message = `must be "once" or "cron"${e.params.tagValue !== undefined ? ` (got ${JSON.stringify(e.params.tagValue)})` : ''}`;
  }
  if (e.keyword === 'format' && e.params.format === 'date-time') {
    message = 'must be an ISO 8601 date-time with offset, e.g. 2026-12-01T09:00:00+01:00';
  }
  if (e.keyword === 'enum' || e.keyword === 'const') {
    message = `must be ${e.keyword === 'const' ? JSON.stringify(e.params.allowedValue) : 'one of ' + (e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  const field = (PART_PREFIX[part] ?? '') + path.join('.');
  if (!path.length && part === 'body') {
    return new ApiError('VALIDATION_FAILED', `request body ${message}`, { field: 'body' });
  }
  return new ApiError('VALIDATION_FAILED', `${field || part} ${message}`, { field: field || part });
}

/** A body validator for one schema, for bodies checked item by item (a batch). */
export function compileBodyValidator(schema: object) {
  return bodyAjv.compile(schema);
}
