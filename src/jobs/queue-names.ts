/** BullMQ queue names. The Redis key prefix (QUEUE_PREFIX) separates deployments and test runs. */
export const GENERATE_QUEUE = 'generate';
/** Webhook deliveries: their own queue, so a slow receiver never holds generation. */
export const WEBHOOKS_QUEUE = 'webhooks';
/** Deployments to serving engines (publish + load, unload + unpublish), retried while an engine is down. */
export const DEPLOYMENTS_QUEUE = 'deployments';
