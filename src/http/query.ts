/** Parses query strings and small JSON bodies with zod schemas; a mismatch is a 400 with details. */
import type { Request } from 'express';
import { z } from '../validation/zod.js';
import { AppError, zodDetails } from '../errors/app-error.js';

export function parseQuery<T extends z.ZodType>(req: Request, schema: T): z.infer<T> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) throw new AppError('invalid_request', 'The query string is invalid.', { details: zodDetails(parsed.error.issues) });
  return parsed.data;
}

export const limitParam = z
  .string()
  .regex(/^\d{1,3}$/, 'must be a whole number from 1 to 100')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(100, 'must be at most 100'))
  .default(20);

/** Parses a JSON body with a zod schema; a mismatch is a 400 with details. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new AppError('invalid_request', 'The request body does not match the schema.', { details: zodDetails(parsed.error.issues) });
  return parsed.data;
}
