/** Follows a job to its end: the SSE stream when the server has it, polling otherwise. */
import { HyperadaptApiError, type HyperadaptClient, type JobView } from '../client/hyperadapt-client.js';
import { isTerminal } from '../store/job-view.js';

export interface Progress {
  update(job: JobView): void;
  done(): void;
}

/** A one-line bar on a TTY; plain lines (one per state change) otherwise. */
export function progressReporter(stream: NodeJS.WriteStream): Progress {
  let last = '';
  return {
    update(job) {
      if (stream.isTTY) {
        const width = 30;
        const filled = Math.round(job.progress * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(job.progress * 100).toFixed(0).padStart(3)}% ${job.status.padEnd(10)} ${job.id}`);
      } else {
        const line = `${job.id} ${job.status} ${(job.progress * 100).toFixed(0)}%`;
        if (line !== last) stream.write(`${line}\n`);
        last = line;
      }
    },
    done() {
      if (stream.isTTY) stream.write('\n');
    },
  };
}

export async function followJob(client: HyperadaptClient, job: JobView, progress: Progress): Promise<JobView> {
  progress.update(job);
  if (isTerminal(job.status)) return job;
  let current = job;
  try {
    for await (const e of client.events(job.id)) {
      current = e.job;
      progress.update(current);
      if (isTerminal(current.status)) return current;
    }
  } catch (err) {
    if (!(err instanceof HyperadaptApiError)) throw err;
    // No event stream (or it broke): poll instead.
  }
  while (!isTerminal(current.status)) {
    await new Promise((r) => setTimeout(r, 200));
    current = await client.getJob(job.id);
    progress.update(current);
  }
  return current;
}
