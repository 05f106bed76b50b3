/**
 * Turns one webhook outbox entry (written by the job scripts' announce()) into a delivery job.
 * The body is rendered here, once, from the snapshot the script took: every retry then sends
 * the same bytes, and a delayed `job.started` still describes the job as it was when it started.
 */
import { MAX_WEBHOOK_BODY_BYTES, webhookDeliveryJobSchema, type WebhookDeliveryJob } from '../jobs/payloads.js';
import { jobView } from '../store/job-view.js';

/**
 * The Standard Webhooks `webhook-id` of a job's event number `seq`: stable, so a redelivery
 * carries the same id and receivers can deduplicate.
 *
 * @example
 * webhookId('job_0123456789abcdef01234567', 4); // 'msg_0123456789abcdef01234567_4'
 */
export function webhookId(jobId: string, seq: number | string): string {
  return `msg_${jobId.replace(/^job_/, '')}_${seq}`;
}

/**
 * The delivery for an outbox entry, or an error sentence when the entry is malformed.
 *
 * @example
 * const d = deliveryFromOutbox('1700000000000-0', { t: 'local', j: jobId, e: 'job.succeeded', q: '3', u: url, r: '{…}' });
 */
export function deliveryFromOutbox(streamId: string, fields: Record<string, string>): { ok: true; delivery: WebhookDeliveryJob } | { ok: false; error: string } {
  let record: Record<string, string>;
  try {
    record = JSON.parse(fields.r ?? '') as Record<string, string>;
  } catch {
    return { ok: false, error: 'the snapshot is not JSON' };
  }
  if (!record || typeof record.id !== 'string') return { ok: false, error: 'the snapshot has no job id' };
  const type = fields.e ?? '';
  // The stream id's first part is the time Redis took the entry: the event's time.
  const timestamp = new Date(Number(streamId.split('-')[0])).toISOString();
  const view = jobView(record);
  // A deployment's outcome (fields.d) carries the Deployment; a job event, the Job.
  let body = fields.d ? JSON.stringify({ type, timestamp, data: { ...(JSON.parse(fields.d) as object), job_id: view.id } }) : JSON.stringify({ type, timestamp, data: view });
  if (Buffer.byteLength(body) > MAX_WEBHOOK_BODY_BYTES) {
    // Only metadata can grow this large (16 keys of up to 512 characters); GET data.urls.self has it.
    body = JSON.stringify({ type, timestamp, data: { ...view, metadata: {} }, metadata_omitted: true });
  }
  const parsed = webhookDeliveryJobSchema.safeParse({
    v: 1,
    tenant: fields.t,
    job_id: fields.j,
    job_created_ms: Date.parse(record.created_at ?? '') || 0,
    event: type,
    webhook_id: webhookId(fields.j ?? '', fields.q ?? ''),
    url: fields.u,
    body,
  });
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return { ok: true, delivery: parsed.data };
}
