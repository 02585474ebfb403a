// The one error catalog: every error a client can see, with its HTTP status.
export const ERRORS = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_SCHEDULE: 400,
  INVALID_TIMEZONE: 400,
  SCHEDULE_IN_PAST: 400,
  INVALID_CURSOR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TASK_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  TASK_NOT_ACTIVE: 409,
  RETRY_IN_PROGRESS: 409,
  RUN_NOT_RETRYABLE: 422,
  VERSION_CONFLICT: 409,
  TASK_KEY_IN_USE: 409,
  BATCH_INVALID: 400,
  IDEMPOTENCY_KEY_REUSED: 422,
  PAYLOAD_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PRECONDITION_FAILED: 412,
  RATE_LIMITED: 429,
  DATABASE_UNAVAILABLE: 503,
  NODE_STOPPING: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.status = ERRORS[code];
  }
}

export const fieldError = (code: ErrorCode, field: string, message: string, extra?: Record<string, unknown>) =>
  new ApiError(code, message, { field, ...extra });
