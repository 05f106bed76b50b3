/** `npm run start:webhooks`: a webhook worker process (any number may share one Redis). */
import { loadConfigOrExit } from '../../src/main/cleanup.js';
import { createLogger } from '../../src/logging/logger.js';
import { onShutdown } from '../../src/main/shutdown.js';
import { startWebhookWorker } from './webhook-worker.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel, { role: 'webhooks' });
try {
  const worker = await startWebhookWorker(config, log);
  onShutdown(log, config.shutdownTimeoutMs, [() => worker.close()]);
  log.info('webhook worker ready');
} catch (err) {
  log.fatal({ err }, (err as Error).message);
  // Start-up failures are printed whatever LOG_LEVEL says: the operator must see why.
  process.stderr.write(`hyperadapt: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
