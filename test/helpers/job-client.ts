/** Small request helpers shared by the webhook tests. */
import { call, type TestService } from './test-service.js';

/** Resolves once `check` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** POST a job with a webhook, cancel it, and read its delivery log, against a service. */
export function jobClient(get: () => TestService) {
  const post = (text: string, webhook: unknown) => call(get().url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: text }, webhook });
  const cancel = (id: string) => call(get().url, 'POST', `/v1/jobs/${id}/cancel`);
  const log = async (id: string) => (await call(get().url, 'GET', `/v1/jobs/${id}/deliveries`)).body.data as any[];
  /** The log once it holds at least `n` attempts. */
  const logOf = async (id: string, n: number) => {
    await until(async () => (await log(id)).length >= n);
    return log(id);
  };
  return { post, cancel, log, logOf };
}
