/** The public `Job` object of api-v1.md, built from a job record (a Redis hash). */

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

export interface JobView {
  id: string;
  object: 'job';
  kind: 'text' | 'images';
  model: string;
  status: JobStatus;
  progress: number;
  cached: boolean;
  adapter_id: string | null;
  error: { code: string; message: string } | null;
  metadata: Record<string, string>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  urls: { self: string; events: string; cancel: string; adapter: string | null };
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

function parseJson<T>(text: string | undefined, fallback: T): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function jobView(h: Record<string, string>): JobView {
  const id = h.id!;
  const adapterId = h.adapter_id ? h.adapter_id : null;
  return {
    id,
    object: 'job',
    kind: h.kind === 'images' ? 'images' : 'text',
    model: h.model ?? '',
    status: (h.status ?? 'queued') as JobStatus,
    progress: Number(h.progress ?? 0),
    cached: h.cached === '1',
    adapter_id: adapterId,
    error: parseJson(h.error, null),
    metadata: parseJson(h.metadata, {}),
    created_at: h.created_at ?? '',
    started_at: h.started_at || null,
    finished_at: h.finished_at || null,
    urls: {
      self: `/v1/jobs/${id}`,
      events: `/v1/jobs/${id}/events`,
      cancel: `/v1/jobs/${id}/cancel`,
      adapter: adapterId ? `/v1/adapters/${adapterId}` : null,
    },
  };
}
