/**
 * Typed domain errors. Domain code throws these; the HTTP layer's one error middleware maps
 * them onto the JSON error body of api-v1.md, and the worker maps them onto a job's `error`.
 * Nothing here knows about Express.
 */

/** The error codes of api-v1.md, with the HTTP status each one answers. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  /** An adapter that expired or was evicted: the same request regenerates it. */
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable_input: 422,
  rate_limited: 429,
  internal_error: 500,
  unavailable: 503,
  /** The tenant's storage quota is filled by pinned adapters (nothing left to evict). */
  insufficient_storage: 507,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** One entry of `error.details`: where in the request the problem is, and what it is. */
export interface ErrorDetail {
  path: (string | number)[];
  message: string;
  code?: string;
}

export interface AppErrorOptions {
  details?: ErrorDetail[];
  /** Seconds, sent as `Retry-After` (429, 503). */
  retryAfter?: number;
  cause?: unknown;
}

/**
 * An error a client may see: its `code` and `message` go into the response body verbatim, so
 * the message must be a human sentence that leaks nothing internal.
 *
 * @example
 * throw new AppError('not_found', 'No job with id job_123.');
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[] | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }

  /** The body of api-v1.md's error answer. */
  toBody(): { error: { code: ErrorCode; message: string; details?: ErrorDetail[] } } {
    const error: { code: ErrorCode; message: string; details?: ErrorDetail[] } = {
      code: this.code,
      message: this.message,
    };
    if (this.details && this.details.length > 0) error.details = this.details;
    return { error };
  }
}

/** True when `err` is an AppError (also across realms, e.g. jest's module sandbox). */
export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError || (err instanceof Error && err.name === 'AppError' && 'code' in err && 'status' in err);
}

/**
 * Converts zod issues into `error.details`.
 *
 * @example
 * throw new AppError('invalid_request', 'Body is invalid.', { details: zodDetails(result.error.issues) });
 */
export function zodDetails(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string }[]): ErrorDetail[] {
  return issues.slice(0, 20).map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'number' ? p : String(p))),
    message: issue.message,
    ...(issue.code ? { code: issue.code } : {}),
  }));
}
