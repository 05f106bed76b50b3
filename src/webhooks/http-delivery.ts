/**
 * One webhook POST. The socket connects only to the addresses the guard validated: a custom
 * `lookup` answers from that list instead of asking DNS again, which closes the DNS-rebinding
 * gap between check and connect. Redirects are never followed (node:http does not), and one
 * timer bounds the whole exchange, headers and body.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { ResolvedAddress, WebhookTarget } from './webhook-url-guard.js';

export interface DeliveryResponse {
  /** The HTTP status, or null when no response came (refused, reset, timeout). */
  statusCode: number | null;
  /** The raw `Retry-After` header, if any. */
  retryAfter: string | undefined;
  /** Why the attempt failed, or null on a 2xx. */
  error: string | null;
}

/** Receivers answer with a status; their bodies are read and dropped, at most this much. */
const MAX_RESPONSE_BYTES = 64 * 1024;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function pinnedLookup(addresses: ResolvedAddress[]) {
  return (_hostname: string, options: LookupOptions | LookupCallback, callback?: LookupCallback): void => {
    const opts = typeof options === 'function' ? {} : options;
    const cb = (typeof options === 'function' ? options : callback)!;
    const family = opts.family === 4 || opts.family === 6 ? opts.family : 0;
    const list = addresses.filter((a) => family === 0 || a.family === family);
    if (list.length === 0) {
      cb(Object.assign(new Error('no validated address of the requested family'), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (opts.all) cb(null, list.map((a) => ({ address: a.address, family: a.family })));
    else cb(null, list[0]!.address, list[0]!.family);
  };
}

function describeError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the receiver';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return err.message;
  }
}

/**
 * POSTs `body` to the validated target. Never rejects: failures come back in `error`.
 *
 * @example
 * const r = await postWebhook(target, '{"type":"job.succeeded"}', { 'webhook-id': 'msg_1' }, 15000);
 * if (r.statusCode !== null && r.statusCode < 300) console.log('delivered');
 */
export function postWebhook(target: WebhookTarget, body: string, headers: Record<string, string>, timeoutMs: number): Promise<DeliveryResponse> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: DeliveryResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const client = target.url.protocol === 'https:' ? https : http;
    const req = client.request(target.url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      lookup: pinnedLookup(target.addresses) as never,
      // A fresh connection per attempt: a pooled socket would skip the per-attempt check.
      agent: false,
    });
    const timer = setTimeout(() => {
      finish({ statusCode: null, retryAfter: undefined, error: `no complete response within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish({ statusCode: null, retryAfter: undefined, error: describeError(err) }));
    req.on('response', (res) => {
      const statusCode = res.statusCode ?? 0;
      const retryAfter = typeof res.headers['retry-after'] === 'string' ? res.headers['retry-after'] : undefined;
      const ok = statusCode >= 200 && statusCode < 300;
      let error: string | null = null;
      if (!ok) error = statusCode >= 300 && statusCode < 400 ? `HTTP ${statusCode} (redirects are not followed)` : `HTTP ${statusCode}`;
      let seen = 0;
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > MAX_RESPONSE_BYTES) {
          // The status is all we need; stop reading a receiver that streams without end.
          finish({ statusCode, retryAfter, error });
          req.destroy();
        }
      });
      res.on('end', () => finish({ statusCode, retryAfter, error }));
      res.on('error', () => finish({ statusCode, retryAfter, error }));
    });
    req.end(body);
  });
}
