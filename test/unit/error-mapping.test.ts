import express from 'express';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../src/errors/app-error.js';
import { errorMiddleware, toAppError } from '../../src/http/error-middleware.js';
import { createLogger } from '../../src/logging/logger.js';

describe('error mapping', () => {
  it.each([
    [new AppError('not_found', 'gone'), 404, 'not_found'],
    [Object.assign(new SyntaxError('Unexpected token'), { type: 'entity.parse.failed', status: 400 }), 400, 'invalid_request'],
    [Object.assign(new Error('too big'), { type: 'entity.too.large', status: 413 }), 413, 'payload_too_large'],
    [Object.assign(new Error('charset'), { type: 'charset.unsupported', status: 415 }), 415, 'unsupported_media_type'],
    [Object.assign(new Error("Stream isn't writeable and enableOfflineQueue options is false"), {}), 503, 'unavailable'],
    [Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }), 503, 'unavailable'],
    [Object.assign(new URIError('Failed to decode param'), { status: 400 }), 400, 'invalid_request'],
  ])('%p → %i %s', (err, status, code) => {
    const mapped = toAppError(err, 1000)!;
    expect(mapped.status).toBe(status);
    expect(mapped.code).toBe(code);
  });

  it('answers an unknown error with 500, an error id and no stack trace', async () => {
    const app = express();
    app.get('/boom', () => {
      throw new Error('secret internal detail');
    });
    app.get('/gone', () => {
      throw new AppError('not_found', 'No such thing.', { details: [{ path: ['id'], message: 'unknown' }] });
    });
    app.use(errorMiddleware(createLogger('silent'), 1000));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const res = await fetch(`${base}/boom`);
      const text = await res.text();
      expect(res.status).toBe(500);
      const body = JSON.parse(text);
      expect(body.error.code).toBe('internal_error');
      expect(body.error.error_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(text).not.toMatch(/secret internal detail|at .*\.js/);
      const gone = await fetch(`${base}/gone`);
      expect(gone.status).toBe(404);
      expect(await gone.json()).toEqual({ error: { code: 'not_found', message: 'No such thing.', details: [{ path: ['id'], message: 'unknown' }] } });
    } finally {
      server.close();
    }
  });
});
