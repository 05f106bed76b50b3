/**
 * `npm start`: the API, a generate worker and a webhook worker in one process, with the shipped
 * default model; starts a private Redis when none answers. `--role api` runs the API alone.
 */
import { loadConfigOrExit } from './cleanup.js';
import { createLogger } from '../logging/logger.js';
import { ModelRegistry } from '../models/model-registry.js';
import { startGenerateWorker } from '../../workers/generate/generate-worker.js';
import { startWebhookWorker } from '../../workers/webhooks/webhook-worker.js';
import { startApi } from './api-server.js';
import { ensureRedis } from './redis-autostart.js';
import { onShutdown } from './shutdown.js';
import { Metrics } from '../observability/metrics.js';

const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : 'all';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel, { role });

try {
  if (role !== 'all' && role !== 'api') throw new Error(`--role must be "all" or "api", not "${role}"`);
  const redisChild = role === 'all' && config.redisAutostart ? await ensureRedis(config.redisUrl, config.dataDir, log) : undefined;
  const registry = await ModelRegistry.load({ dirs: config.modelsDirs });
  if (registry.list().length === 0) throw new Error(`no models found under ${config.modelsDirs.join(', ')}`);
  if (!registry.has(config.defaultModel)) log.warn({ defaultModel: config.defaultModel }, 'the default model is not among the loaded models');
  // One metrics registry: /metrics shows the API's and the worker's figures together.
  const metrics = new Metrics();
  const worker = role === 'all' ? await startGenerateWorker(config, registry, log.child({ component: 'worker' }), metrics) : undefined;
  const webhooks = role === 'all' ? await startWebhookWorker(config, log.child({ component: 'webhooks' }), { metrics }) : undefined;
  const api = await startApi(config, registry, log, metrics);
  onShutdown(log, config.shutdownTimeoutMs, [
    async () => api.stopAccepting(),
    async () => worker?.close(),
    async () => webhooks?.close(),
    () => api.close(),
    async () => {
      redisChild?.kill('SIGTERM');
    },
  ]);
} catch (err) {
  log.fatal({ err }, (err as Error).message);
  // Start-up failures are printed whatever LOG_LEVEL says: the operator must see why.
  process.stderr.write(`hyperadapt: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
