/** Outbox entries → delivery jobs: stable webhook-id, body from the snapshot, size bound. */
import { MAX_WEBHOOK_BODY_BYTES } from '../../src/jobs/payloads.js';
import { deliveryFromOutbox, webhookId } from '../../src/webhooks/outbox-entry.js';

const JOB = 'job_0123456789abcdef01234567';
const record = (extra: Record<string, string> = {}) => ({
  id: JOB,
  kind: 'text',
  model: 'm',
  status: 'succeeded',
  progress: '1',
  cached: '0',
  adapter_id: `ad_${'a'.repeat(40)}`,
  error: '',
  metadata: '{"doc":"42"}',
  webhook: '{"url":"https://hooks.example.com/x"}',
  created_at: '2024-05-01T10:00:00.000Z',
  started_at: '2024-05-01T10:00:01.000Z',
  finished_at: '2024-05-01T10:00:02.000Z',
  computation: 'c'.repeat(40),
  seq: '4',
  ...extra,
});
const fields = (rec: object) => ({ t: 'acme', j: JOB, e: 'job.succeeded', q: '4', u: 'https://hooks.example.com/x', r: JSON.stringify(rec) });

describe('deliveryFromOutbox', () => {
  it('renders {type, timestamp, data: Job} once, with a webhook-id stable per event', () => {
    const built = deliveryFromOutbox('1714557602000-0', fields(record()));
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    const d = built.delivery;
    expect(d).toMatchObject({ v: 1, tenant: 'acme', job_id: JOB, event: 'job.succeeded', url: 'https://hooks.example.com/x', webhook_id: webhookId(JOB, 4) });
    expect(d.webhook_id).toBe('msg_0123456789abcdef01234567_4');
    expect(d.job_created_ms).toBe(Date.parse('2024-05-01T10:00:00.000Z'));
    const body = JSON.parse(d.body);
    expect(body.type).toBe('job.succeeded');
    expect(body.timestamp).toBe('2024-05-01T10:00:02.000Z');
    expect(body.data).toMatchObject({ id: JOB, object: 'job', status: 'succeeded', adapter_id: `ad_${'a'.repeat(40)}`, metadata: { doc: '42' } });
    expect(body.data.urls.adapter).toBe(`/v1/adapters/ad_${'a'.repeat(40)}`);
    // Internal fields stay inside.
    expect(body.data.webhook).toBeUndefined();
    expect(body.data.computation).toBeUndefined();
    expect(deliveryFromOutbox('1714557602000-0', fields(record())).ok && deliveryFromOutbox('1714557602000-0', fields(record()))).toEqual(built);
  });

  it('keeps the body within 20 kB by leaving out oversized metadata', () => {
    const metadata = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key${i}`, '€'.repeat(512)]));
    const built = deliveryFromOutbox('1714557602000-0', fields(record({ metadata: JSON.stringify(metadata) })));
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(Buffer.byteLength(built.delivery.body)).toBeLessThanOrEqual(MAX_WEBHOOK_BODY_BYTES);
    const body = JSON.parse(built.delivery.body);
    expect(body.data.metadata).toEqual({});
    expect(body.metadata_omitted).toBe(true);
  });

  it('refuses malformed entries with a reason', () => {
    expect(deliveryFromOutbox('1-0', { ...fields(record()), r: 'not json' })).toEqual({ ok: false, error: 'the snapshot is not JSON' });
    const bad = deliveryFromOutbox('1-0', { ...fields(record()), e: 'job.exploded' });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/event/);
  });
});
