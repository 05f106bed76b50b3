/**
 * `GET /v1/jobs/{id}/events`: a job's state changes as Server-Sent Events. Fed by the process's
 * one JobEvents subscription (not BullMQ's QueueEvents: one BullMQ job serves many of our jobs,
 * and cache hits and cancels never reach BullMQ). Each event carries the record snapshot its
 * Lua script took and the job's event number, so the stream sends every state exactly once
 * and in order, even for events that raced the initial read.
 */
import type { TenantSlots } from '../tenant-slots.js';
import { Router, type Response } from 'express';
import { AppError } from '../../errors/app-error.js';
import type { JobEvent, JobEvents } from '../../jobs/job-events.js';
import { JOB_ID_PATTERN, type JobStore } from '../../store/job-store.js';
import { isTerminal, jobView, type JobStatus } from '../../store/job-view.js';

export interface EventsRoutesDeps {
  jobs: JobStore;
  events: JobEvents;
  /** Interval of `: heartbeat` comment lines, which keep proxies from closing an idle stream. */
  heartbeatMs: number;
  /** Per-tenant bound on open streams in this process. */
  streamSlots: TenantSlots;
}

/** The event type a late client's first message gets, from the state the job is in. */
function currentType(record: Record<string, string>): string {
  if (record.status === 'running') return Number(record.progress ?? 0) > 0 ? 'job.progress' : 'job.started';
  return `job.${record.status ?? 'queued'}`;
}

function writeEvent(res: Response, type: string, record: Record<string, string>): void {
  res.write(`id: ${record.seq ?? 0}\nevent: ${type}\ndata: ${JSON.stringify(jobView(record))}\n\n`);
}

/**
 * @example
 * app.use(eventsRoutes({ jobs, events, heartbeatMs: 15000 }));
 */
export function eventsRoutes(deps: EventsRoutesDeps): Router {
  const r = Router();
  r.get('/v1/jobs/:id/events', async (req, res) => {
    const { tenant } = req;
    const id = req.params.id;
    const notFound = () => new AppError('not_found', `No job with id ${id.slice(0, 64)}.`);
    if (!JOB_ID_PATTERN.test(id)) throw notFound();
    const release = deps.streamSlots.take(tenant);
    res.on('close', release);
    // Subscribe before reading, and hold early events: nothing between the read and the
    // subscription can be lost; the event numbers drop what the read already reflects.
    const early: JobEvent[] = [];
    let onEvent: (e: JobEvent) => void = (e) => early.push(e);
    const off = await deps.events.listen(tenant, id, (e) => onEvent(e));
    let record: Record<string, string> | undefined;
    try {
      record = await deps.jobs.getRecord(tenant, id);
    } catch (err) {
      off();
      throw err;
    }
    if (!record) {
      off();
      throw notFound();
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no'); // nginx: do not buffer the stream
    res.flushHeaders();

    let ended = false;
    let lastSeq = 0;
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.heartbeatMs);
    const stop = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      off();
    };
    res.on('close', stop);
    const send = (type: string, rec: Record<string, string>) => {
      lastSeq = Math.max(lastSeq, Number(rec.seq ?? 0));
      writeEvent(res, type, rec);
      if (isTerminal((rec.status ?? 'queued') as JobStatus)) {
        stop();
        res.end();
      }
    };
    send(currentType(record), record);
    onEvent = (e) => {
      if (ended || e.seq <= lastSeq || !e.record.id) return;
      send(e.type, e.record);
    };
    for (const e of early.splice(0)) onEvent(e);
  });
  return r;
}
