/**
 * Entry point of an inference worker thread. onnxruntime-node's `run()` is synchronous native
 * work, so it runs here and never on the thread that serves HTTP or renews BullMQ locks. Each
 * thread opens every model's session once, then serves tasks one at a time: tokenize → one
 * forward pass over the batch → slice, convert and serialise each row's adapter.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { TextTokenizer } from '../conditioning/text-tokenizer.js';
import { sliceModules, writeAdapterFiles, type RawOutputs } from '../adapters/assemble.js';
import { buildPixelTensors } from '../conditioning/image-preprocess.js';
import type { Manifest } from '../models/manifest-schema.js';
import { GenerationError } from '../adapters/generation-error.js';
import { buildTextFeeds, type TokenizedRow } from './text-feeds.js';
import type { GenerateTask, ItemResult, ThreadInit, ThreadMessage, ThreadModel } from './thread-protocol.js';

interface OpenModel {
  spec: ThreadModel;
  session: ort.InferenceSession;
  tokenizer: TextTokenizer | null;
}

const port = parentPort!;
const init = workerData as ThreadInit;
const models = new Map<string, OpenModel>();

function post(msg: ThreadMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Opens a session, trying providers in order ("cuda,cpu" falls back to CPU and says so). */
async function openSession(file: string): Promise<{ session: ort.InferenceSession; providers: string[] }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: true,
  };
  const wanted = init.executionProviders;
  for (let i = 0; i < wanted.length; i++) {
    const providers = wanted.slice(i);
    try {
      const session = await ort.InferenceSession.create(file, { ...base, executionProviders: providers });
      return { session, providers };
    } catch (err) {
      if (i === wanted.length - 1) throw err;
      post({ type: 'log', level: 'warn', message: `execution provider ${wanted[i]} is not available for ${file} (${(err as Error).message.split('\n')[0]}); falling back to ${wanted.slice(i + 1).join(',')}` });
    }
  }
  throw new Error('no execution provider configured');
}

function toTensor(spec: { type: string; data: BigInt64Array | Int32Array | Float32Array; dims: number[] }): ort.Tensor {
  return new ort.Tensor(spec.type as 'int64', spec.data as BigInt64Array, spec.dims);
}

/** Stacks per-request pixel tensors into the graph's [batch, images, 3, H, W] and [batch, images]. */
function imageFeeds(manifest: Manifest, per: { pixels: Float32Array; mask: Float32Array }[]): Record<string, ort.Tensor> {
  if (manifest.condition.kind !== 'images') throw new Error('not an image model');
  const c = manifest.condition;
  const pixels = new Float32Array(per.length * per[0]!.pixels.length);
  const mask = new Float32Array(per.length * c.max_images);
  per.forEach((p, b) => {
    pixels.set(p.pixels, b * p.pixels.length);
    mask.set(p.mask, b * c.max_images);
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of manifest.inputs) {
    if (input.role === 'pixel_values') feeds[input.name] = new ort.Tensor('float32', pixels, [per.length, c.max_images, 3, c.size[0], c.size[1]]);
    else if (input.role === 'image_mask') {
      feeds[input.name] = input.dtype === 'float32'
        ? new ort.Tensor('float32', mask, [per.length, c.max_images])
        : new ort.Tensor('int64', BigInt64Array.from(mask, (v) => BigInt(v)), [per.length, c.max_images]);
    }
  }
  return feeds;
}

async function runTask(task: GenerateTask): Promise<void> {
  const model = models.get(task.modelId);
  if (!model) {
    post({ type: 'task-failed', taskId: task.taskId, message: `model ${task.modelId} is not loaded in this worker` });
    return;
  }
  const { manifest } = model.spec;
  const t0 = performance.now();
  const results: (ItemResult | undefined)[] = new Array(task.items.length);
  const rowOf: number[] = [];
  let feeds: Record<string, ort.Tensor> | undefined;
  const reject = (i: number, code: string, message: string) => {
    results[i] = { ok: false, error: { code, message, retryable: false } };
  };
  if (manifest.condition.kind === 'text') {
    const rows: TokenizedRow[] = [];
    const fields = manifest.condition.fields;
    task.items.forEach((item, i) => {
      if (!item.input || !model.tokenizer) return reject(i, 'unprocessable_input', 'this model takes text');
      const row: TokenizedRow = {};
      for (const [field, spec] of Object.entries(fields)) {
        const text = item.input[field];
        if (text === undefined) continue;
        const ids = model.tokenizer.encode(text);
        if (ids.length > spec.max_tokens) return reject(i, 'payload_too_large', `${field} is ${ids.length} tokens; the limit is ${spec.max_tokens}`);
        row[field] = ids;
      }
      rowOf[i] = rows.length;
      rows.push(row);
    });
    if (rows.length > 0) feeds = Object.fromEntries(Object.entries(buildTextFeeds(manifest, rows)).map(([k, v]) => [k, toTensor(v)]));
  } else {
    const c = manifest.condition;
    const per: { pixels: Float32Array; mask: Float32Array }[] = [];
    task.items.forEach((item, i) => {
      const images = (item.images ?? []).map((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
      if (images.length < c.min_images || images.length > c.max_images) return reject(i, 'unprocessable_input', `this model takes ${c.min_images}-${c.max_images} images`);
      if (images.some((img) => img.length !== c.size[0] * c.size[1] * 3)) return reject(i, 'unprocessable_input', "an image does not have the model's size");
      rowOf[i] = per.length;
      per.push(buildPixelTensors(images, c.size, c.max_images, c.mean, c.std));
    });
    if (per.length > 0) feeds = imageFeeds(manifest, per);
  }
  const t1 = performance.now();
  let outputs: RawOutputs = {};
  if (feeds) {
    const out = await model.session.run(feeds);
    outputs = Object.fromEntries(
      Object.entries(out).map(([k, t]) => [k, { data: t.type === 'float32' ? (t.data as Float32Array) : Float32Array.from(t.data as ArrayLike<number>), dims: t.dims }]),
    );
  }
  const t2 = performance.now();
  const transfer: ArrayBuffer[] = [];
  task.items.forEach((item, i) => {
    if (results[i]) return;
    try {
      const modules = sliceModules(manifest, outputs, rowOf[i]!);
      const files = writeAdapterFiles(manifest, modules, item.options.format, item.options.dtype, {
        adapterId: item.adapterId,
        modelId: manifest.id,
        modelSha256: item.modelSha256,
      });
      results[i] = { ok: true, files };
      // Only whole, unpooled buffers can move without copying (small Buffers share a pool).
      for (const f of files) if (f.data.byteOffset === 0 && f.data.byteLength === f.data.buffer.byteLength) transfer.push(f.data.buffer as ArrayBuffer);
    } catch (err) {
      const retryable = !(err instanceof GenerationError);
      results[i] = { ok: false, error: { code: 'generation_failed', message: (err as Error).message, retryable } };
    }
  });
  const t3 = performance.now();
  post(
    { type: 'result', taskId: task.taskId, results: results as ItemResult[], timings: { tokenizeMs: t1 - t0, forwardMs: t2 - t1, assembleMs: t3 - t2 } },
    [...new Set(transfer)],
  );
}

async function main(): Promise<void> {
  const providers: Record<string, string[]> = {};
  for (const spec of init.models) {
    const { session, providers: used } = await openSession(spec.generatorPath);
    providers[spec.id] = used;
    models.set(spec.id, { spec, session, tokenizer: spec.tokenizerPath ? TextTokenizer.fromFile(spec.tokenizerPath) : null });
  }
  // Tasks are served strictly one after another: a session is not shared between runs.
  let chain = Promise.resolve();
  port.on('message', (task: GenerateTask) => {
    chain = chain.then(() =>
      runTask(task).catch((err: unknown) => post({ type: 'task-failed', taskId: task.taskId, message: (err as Error).message ?? String(err) })),
    );
  });
  post({ type: 'ready', providers });
}

main().catch((err: unknown) => post({ type: 'init-failed', message: (err as Error).message ?? String(err) }));
