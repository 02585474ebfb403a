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
  return ajv;
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
