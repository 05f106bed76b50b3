/**
 * Entry point of an inference worker thread. onnxruntime-node's `run()` is synchronous native
 * work, so it runs here and never on the thread that serves HTTP or renews BullMQ locks. Each
 * thread opens every model's session once, then serves tasks one at a time: tokenize → one
 * forward pass over the batch into buffers it owns → check and convert the batch (onnxruntime
 * Cast for float16) → move the buffers to this thread's writer thread, which checks each row,
 * plans its files as views into those buffers, writes them (vectored writes, sha256 on the way,
 * group commit) and moves the buffers back. Only names, sizes and digests go to the main thread.
 * A batch's assembly and writes overlap the next batch's forward pass.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { TextTokenizer } from '../conditioning/text-tokenizer.js';
import { expectedDims, rowElements, rowFloat32Bytes, type EncodedOutputs, type RawOutputs } from '../adapters/assemble.js';
import { toBfloat16, type Dtype } from '../adapters/dtype.js';
import { GenerationError } from '../adapters/generation-error.js';
import type { DtypeGroup } from './assemble-batch.js';
import { WriterClient } from './writer-client.js';
import { prepare } from './batch-feeds.js';
import { BufferCache } from './buffer-cache.js';
import { buildFloat16CastGraph, castInput, castOutput } from './cast-graph.js';
import { readWindows } from './chunked-forward.js';
import type { ExtensionState } from '../adapters/extension-state.js';
import type { DropMessage, GenerateTask, ItemResult, ThreadInit, ThreadMessage, ThreadModel } from './thread-protocol.js';

interface OpenModel {
  spec: ThreadModel;
  session: ort.InferenceSession;
  /** Chunked models: summed window state → LoRA tensors. */
  combine: ort.InferenceSession | undefined;
  tokenizer: TextTokenizer | null;
  sentenceEnds: Set<number>;
  /** float32 → float16 for all outputs at once, opened on first use. */
  cast: Promise<ort.InferenceSession> | undefined;
}

const port = parentPort!;
const init = workerData as ThreadInit;
const models = new Map<string, OpenModel>();
const writer = new WriterClient({ dataDir: init.dataDir, fsync: init.fsync, store: init.store, manifests: Object.fromEntries(init.models.map((m) => [m.id, m.manifest])) });
const buffers = new BufferCache(init.bufferCacheBytes);
/** Chunked items whose jobs were all canceled: their remaining windows are not read. */
const drops = new Set<string>();

/**
 * Above this many output bytes per batch, a session runs without onnxruntime's CPU arena: the
 * arena keeps the largest batch's intermediates for the life of the process.
 */
const ARENA_MAX_BYTES = 64 * 1024 * 1024;

function post(msg: ThreadMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Opens a session, trying providers in order ("cuda,cpu" falls back to CPU and says so). */
async function openSession(file: string | Uint8Array, arena: boolean): Promise<{ session: ort.InferenceSession; providers: string[] }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: arena,
  };
  const wanted = init.executionProviders;
  for (let i = 0; i < wanted.length; i++) {
    const providers = wanted.slice(i);
    try {
      const session = typeof file === 'string'
        ? await ort.InferenceSession.create(file, { ...base, executionProviders: providers })
        : await ort.InferenceSession.create(file, { ...base, executionProviders: providers });
      return { session, providers };
    } catch (err) {
      if (i === wanted.length - 1) throw err;
      post({ type: 'log', level: 'warn', message: `execution provider ${wanted[i]} is not available for ${file} (${(err as Error).message.split('\n')[0]}); falling back to ${wanted.slice(i + 1).join(',')}` });
    }
  }
  throw new Error('no execution provider configured');
}

/**
 * The pass that emits the LoRA tensors (the generator, or a chunked model's combine graph), into
 * float32 buffers taken from the cache (onnxruntime writes them in place).
 */
async function forward(model: OpenModel, feeds: Record<string, ort.Tensor>, rows: number, session = model.session): Promise<{ outputs: RawOutputs; owned: ArrayBuffer[] }> {
  const elems = rowElements(model.spec.manifest);
  const dims = expectedDims(model.spec.manifest, rows);
  const outputs: RawOutputs = {};
  const fetches: Record<string, ort.Tensor> = {};
  const owned: ArrayBuffer[] = [];
  for (const [name, n] of Object.entries(elems)) {
    const buf = buffers.take(rows * n * 4);
    owned.push(buf);
    const data = new Float32Array(buf, 0, rows * n);
    outputs[name] = { data, dims: dims[name]! };
    fetches[name] = new ort.Tensor('float32', data, dims[name]!);
  }
  try {
    await session.run(feeds, fetches);
  } catch (err) {
    owned.forEach((b) => buffers.give(b));
    const message = (err as Error).message ?? String(err);
    // A graph whose outputs do not have the manifest's shapes cannot be written, however often it is retried.
    if (/shape|dimension/i.test(message)) throw new GenerationError(`the generator's outputs do not match the manifest's groups (${message.split('\n')[0]})`);
    throw err;
  }
  return { outputs, owned };
}

/** The batch's outputs in `dtype`: float32 as they are; float16 through onnxruntime; bfloat16 in one JS pass. */
async function encode(model: OpenModel, outputs: RawOutputs, rows: number, dtype: Dtype, owned: ArrayBuffer[]): Promise<EncodedOutputs> {
  const encoded: EncodedOutputs = {};
  if (dtype === 'float32') {
    for (const [name, o] of Object.entries(outputs)) encoded[name] = { bytes: new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength), dims: o.dims };
    return encoded;
  }
  const halves: Record<string, Uint16Array> = {};
  for (const [name, o] of Object.entries(outputs)) {
    const buf = buffers.take(o.data.length * 2);
    owned.push(buf);
    halves[name] = new Uint16Array(buf, 0, o.data.length);
  }
  if (dtype === 'float16') {
    model.cast ??= openSession(buildFloat16CastGraph(Object.keys(outputs)), false).then((s) => s.session);
    const cast = await model.cast;
    const feeds: Record<string, ort.Tensor> = {};
    const fetches: Record<string, ort.Tensor> = {};
    for (const [name, o] of Object.entries(outputs)) {
      feeds[castInput(name)] = new ort.Tensor('float32', o.data, [rows, o.data.length / rows]);
      fetches[castOutput(name)] = new ort.Tensor('float16', halves[name]!, [rows, o.data.length / rows]);
    }
    await cast.run(feeds, fetches);
  } else {
    for (const [name, o] of Object.entries(outputs)) toBfloat16(o.data, halves[name]!);
  }
  for (const [name, o] of Object.entries(outputs)) {
    const h = halves[name]!;
    encoded[name] = { bytes: new Uint8Array(h.buffer, h.byteOffset, h.byteLength), dims: o.dims };
  }
  return encoded;
}

/**
 * Runs one batch up to the point where its files are being written, and returns the promise of
 * the rest (wrapped: an async function would otherwise wait for it), so the next batch's forward
 * pass can start while the kernel writes this one.
 */
async function runTask(task: GenerateTask): Promise<{ written: Promise<void> }> {
  const model = models.get(task.modelId);
  if (!model) {
    post({ type: 'task-failed', taskId: task.taskId, message: `model ${task.modelId} is not loaded in this worker` });
    return { written: Promise.resolve() };
  }
  const { manifest } = model.spec;
  const t0 = performance.now();
  const results: (ItemResult | undefined)[] = new Array(task.items.length);
  let states: (ExtensionState | undefined)[] = [];
  let prepared: ReturnType<typeof prepare>;
  /** A chunked model's window passes: forward time, not tokenizing. */
  let windowMs = 0;
  if (manifest.chunking && model.combine) {
    const read = await readWindows({ manifest, session: model.session, tokenizer: model.tokenizer!, sentenceEnds: model.sentenceEnds }, task.items, results, {
      passRows: init.chunkPassRows,
      tensor: (type, data, dims) => new ort.Tensor(type, data as Float32Array, dims),
      progress: (progressId, done, total) => post({ type: 'progress', progressId, done, total }),
      dropped: async (progressId) => {
        await new Promise((r) => setImmediate(r));
        return drops.delete(progressId);
      },
    });
    states = read.states;
    const feeds = read.rows > 0 ? { state: new ort.Tensor('float32', read.summed, [read.rows, manifest.chunking.state_size]) } : undefined;
    prepared = { feeds, rowOf: read.rowOf, rows: read.rows };
    for (const item of task.items) if (item.progressId) drops.delete(item.progressId);
    windowMs = performance.now() - t0;
  } else {
    prepared = prepare(model, task, results);
  }
  const { feeds, rowOf, rows } = prepared;
  const t1 = performance.now();
  const owned: ArrayBuffer[] = [];
  const groups: DtypeGroup[] = [];
  let raw: RawOutputs = {};
  let t2 = t1;
  if (feeds) {
    const fwd = await forward(model, feeds, rows, model.combine ?? model.session);
    owned.push(...fwd.owned);
    raw = fwd.outputs;
    t2 = performance.now();
    const byDtype = new Map<Dtype, number[]>();
    task.items.forEach((item, i) => {
      if (!results[i]) byDtype.set(item.options.dtype, [...(byDtype.get(item.options.dtype) ?? []), i]);
    });
    for (const [dtype, items] of byDtype) {
      const encoded = await encode(model, fwd.outputs, rows, dtype, owned);
      groups.push({
        dtype,
        encoded,
        rows: items.map((i) => {
          const item = task.items[i]!;
          return { index: i, row: rowOf[i]!, tenant: item.tenant, adapterId: item.adapterId, modelSha256: item.modelSha256, format: item.options.format, ...(states[i] ? { state: states[i] } : {}) };
        }),
      });
    }
  }
  const t3 = performance.now();
  // The outputs move to the writer thread, which checks, assembles and writes each row's files,
  // and moves the buffers back; this thread goes on to the next forward pass.
  const written = writer.write(task.modelId, groups, raw, owned).then((reply) => {
    reply.buffers.forEach((b) => buffers.give(b));
    for (const { index, result } of reply.results) {
      const st = states[index];
      results[index] = result.ok && st ? { ...result, context: { tokens: st.contextTokens, windows: st.windows } } : result;
    }
    const timings = { tokenizeMs: t1 - t0 - windowMs, forwardMs: t2 - t1 + windowMs, assembleMs: t3 - t2 + reply.assembleMs, writeMs: performance.now() - t3 - reply.assembleMs };
    post({ type: 'result', taskId: task.taskId, results: results as ItemResult[], timings });
  });
  return {
    written: written.catch((err: unknown) => post({ type: 'task-failed', taskId: task.taskId, message: (err as Error).message ?? String(err) })),
  };
}

async function main(): Promise<void> {
  const providers: Record<string, string[]> = {};
  for (const spec of init.models) {
    const arena = rowFloat32Bytes(spec.manifest) * spec.maxBatch <= ARENA_MAX_BYTES;
    const { session, providers: used } = await openSession(spec.generatorPath, arena);
    providers[spec.id] = used;
    const combine = spec.combinePath ? (await openSession(spec.combinePath, arena)).session : undefined;
    const tokenizer = spec.tokenizerPath ? TextTokenizer.fromFile(spec.tokenizerPath) : null;
    models.set(spec.id, { spec, session, combine, tokenizer, sentenceEnds: tokenizer?.sentenceEnds() ?? new Set(), cast: undefined });
  }
  // Forward passes run strictly one after another (a session is not shared between runs);
  // a batch's writes continue in the background while the next one computes.
  let chain = Promise.resolve();
  port.on('message', (task: GenerateTask | DropMessage) => {
    if (task.type === 'drop') {
      drops.add(task.progressId);
      return;
    }
    chain = chain.then(() =>
      runTask(task).then(
        () => undefined, // the batch's writes go on; the next forward pass starts now
        (err: unknown) => post({ type: 'task-failed', taskId: task.taskId, message: (err as Error).message ?? String(err) }),
      ),
    );
  });
  post({ type: 'ready', providers });
}

main().catch((err: unknown) => post({ type: 'init-failed', message: (err as Error).message ?? String(err) }));
