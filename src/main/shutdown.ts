/**
 * Graceful shutdown on SIGTERM/SIGINT: flip readiness to 503, stop taking jobs and let running
 * ones finish, close BullMQ and Redis, exit 0; an unref'd timer forces exit if that hangs.
 */
import type { Logger } from '../logging/logger.js';

export function onShutdown(log: Logger, timeoutMs: number, steps: (() => Promise<void>)[]): void {
  let started = false;
  const run = (signal: string) => {
    if (started) return;
    started = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error({ timeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, timeoutMs);
    force.unref();
    (async () => {
      for (const step of steps) {
        try {
          await step();
        } catch (err) {
          log.warn({ err }, 'shutdown step failed');
        }
      }
      log.info('shutdown complete');
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => run('SIGTERM'));
  process.once('SIGINT', () => run('SIGINT'));
}
