/** `npm run start:worker`: a generate worker process (any number may share one Redis). */
import { loadConfigOrExit } from '../../src/main/cleanup.js';
import { createLogger } from '../../src/logging/logger.js';
import { ModelRegistry } from '../../src/models/model-registry.js';
import { onShutdown } from '../../src/main/shutdown.js';
import { startGenerateWorker } from './generate-worker.js';
import { Metrics } from '../../src/observability/metrics.js';
import { serveMetrics } from '../../src/observability/metrics-server.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel, { role: 'worker' });
try {
  const registry = await ModelRegistry.load({ dirs: config.modelsDirs });
  const metrics = new Metrics();
  const worker = await startGenerateWorker(config, registry, log, metrics);
  const metricsServer = config.metricsPort ? await serveMetrics(metrics, config.metricsPort, config.host) : undefined;
  onShutdown(log, config.shutdownTimeoutMs, [() => worker.close(), async () => metricsServer?.close()]);
  log.info('generate worker ready');
} catch (err) {
  log.fatal({ err }, (err as Error).message);
  // Start-up failures are printed whatever LOG_LEVEL says: the operator must see why.
  process.stderr.write(`hyperadapt: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
