/**
 * Shared plumbing of the process entry points: an idempotent close() that runs every cleanup
 * step even when one fails, and configuration loading that exits with the message on error.
 */
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';

export type CleanupStep = [name: string, run: () => Promise<unknown>];

/**
 * Returns a close() that runs `steps` in order once; later calls get the same promise.
 *
 * @example
 * close: closeOnce(log, () => [['worker', () => worker.close()], ['redis', () => redis.quit()]])
 */
export function closeOnce(log: Logger, steps: () => CleanupStep[]): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      for (const [name, step] of steps()) {
        try {
          await step();
        } catch (err) {
          log.warn({ err, step: name }, 'shutdown step failed');
        }
      }
    })();
    return closing;
  };
}

/** loadConfig(), or print the message naming the wrong variables and exit 1. */
export function loadConfigOrExit(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
