/** JSON logs (pino). One root logger per process; components take children with bindings. */
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * @example
 * const log = createLogger('info').child({ component: 'api' });
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}
