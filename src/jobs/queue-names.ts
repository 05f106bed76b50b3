/** BullMQ queue names. The Redis key prefix (QUEUE_PREFIX) separates deployments and test runs. */
export const GENERATE_QUEUE = 'generate';
