/**
 * Entry point of the preview thread (one per API process, started on the first preview):
 * applies an adapter to its model's `base.onnx` and decodes greedily — `answer()`, the
 * evaluation's own code — or samples base vs adapted images from the same noise. onnxruntime's
 * `run()` blocks its thread, so it never runs on the HTTP thread. Text requests that arrive
 * while a batch runs are answered together: one forward pass per step for all of a model's
 * waiting rows, each row with its own adapter. A samples request is a batch of its own (2·n rows).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ModelRegistry } from '../models/model-registry.js';
import { BaseLm } from '../runners/base-lm.js';
import { BaseUnet } from '../runners/base-unet.js';
import { baseVsAdaptedGrid } from '../runners/image-grid.js';
import { answer } from '../runners/answer.js';
import { loraFromSafetensors, type GroupLora } from '../runners/read-adapter.js';
import type { GenerateRequest, PreviewReply, PreviewRequest, PreviewThreadInit, SamplesRequest } from './preview-protocol.js';

const port = parentPort!;
const init = workerData as PreviewThreadInit;
const registry = ModelRegistry.load({ dirs: init.modelsDirs });
const bases = new Map<string, Promise<BaseLm | BaseUnet>>();
const waiting: PreviewRequest[] = [];
let running = false;
let closing = false;

/** Ends the thread once its batch is done: onnxruntime aborts the process if a thread is killed mid-run. */
async function shutdown(): Promise<void> {
  for (const b of bases.values()) await b.then((lm) => lm.close(), () => undefined);
  port.close();
}

function baseOf(modelId: string): Promise<BaseLm | BaseUnet> {
  // Loading is awaited by shutdown too: a session is never released while it is being created.
  let b = bases.get(modelId);
  if (!b) {
    b = registry.then((r): Promise<BaseLm | BaseUnet> => {
      const model = r.get(modelId);
      if (!model) throw new Error(`model ${modelId} is not loaded`);
      return model.manifest.base?.diffusion ? BaseUnet.open(model, init.intraOpThreads) : BaseLm.open(model, init.intraOpThreads);
    });
    bases.set(modelId, b);
  }
  return b;
}

async function runSamples(r: SamplesRequest): Promise<void> {
  try {
    const model = (await registry).get(r.modelId)!;
    const unet = await baseOf(r.modelId);
    if (!(unet instanceof BaseUnet)) throw new Error(`model ${r.modelId} has no diffusion base`);
    const grid = await baseVsAdaptedGrid(unet, loraFromSafetensors(model, r.adapter, 'diffusers'), r);
    port.postMessage({ id: r.id, ok: true, grid } satisfies PreviewReply, [grid.rgb.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ id: r.id, ok: false, message: (err as Error).message } satisfies PreviewReply);
  }
}

async function runBatch(batch: GenerateRequest[]): Promise<void> {
  const modelId = batch[0]!.modelId;
  try {
    const model = (await registry).get(modelId)!;
    const lm = await baseOf(modelId);
    if (!(lm instanceof BaseLm)) throw new Error(`model ${modelId} has no text base`);
    const zero = lm.zeroLora();
    const prompts: string[] = [];
    const loras: GroupLora[] = [];
    for (const r of batch) {
      prompts.push(r.prompt);
      loras.push(loraFromSafetensors(model, r.adapter, 'peft'));
      if (r.compareBase) {
        prompts.push(r.prompt);
        loras.push(zero);
      }
    }
    const maxNew = Math.max(...batch.map((r) => r.maxNew));
    const outs = await answer(lm, model.tokenizer!, model.manifest, prompts, loras, { maxNew, batch: prompts.length });
    let k = 0;
    for (const r of batch) {
      const output = outs[k++]!;
      const baseOutput = r.compareBase ? outs[k++]! : undefined;
      port.postMessage({ id: r.id, ok: true, output, ...(baseOutput !== undefined ? { baseOutput } : {}) } satisfies PreviewReply);
    }
  } catch (err) {
    for (const r of batch) port.postMessage({ id: r.id, ok: false, message: (err as Error).message } satisfies PreviewReply);
  }
}

async function drain(): Promise<void> {
  running = true;
  while (waiting.length > 0) {
    const first = waiting[0]!;
    if (first.kind === 'samples') {
      waiting.shift();
      await runSamples(first);
      continue;
    }
    const batch = waiting.filter((r): r is GenerateRequest => r.kind === 'generate' && r.modelId === first.modelId).slice(0, init.maxBatch);
    for (const r of batch) waiting.splice(waiting.indexOf(r), 1);
    await runBatch(batch);
  }
  running = false;
  if (closing) await shutdown();
}

port.on('message', (req: PreviewRequest | { close: true }) => {
  if ('close' in req) {
    closing = true;
    waiting.length = 0;
    if (!running) void shutdown();
    return;
  }
  waiting.push(req);
  // Let the requests of this turn gather before the first forward pass.
  if (!running) setImmediate(() => void drain());
});
