/**
 * Loads every `<models dir>/<id>/manifest.json`, validates it, checks the generator's sha256
 * and that the ONNX graph's inputs and outputs are the ones the manifest declares. Any problem
 * is a start-up error that names the file and the field.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { TextTokenizer } from '../conditioning/text-tokenizer.js';
import { manifestSchema, type Manifest } from './manifest-schema.js';
import { modelView, type ModelView } from './model-view.js';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

export interface LoadedModel {
  manifest: Manifest;
  dir: string;
  generatorPath: string;
  /** A chunked model's combine graph (summed window state → LoRA). */
  combinePath?: string;
  tokenizer: TextTokenizer | undefined;
  view: ModelView;
}

/** sha256 of a file, streamed (generators may be gigabytes). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Parses and validates one manifest file; throws ModelLoadError naming file and field. */
export function parseManifestFile(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelLoadError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ModelLoadError(`${file}: invalid manifest\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

function checkGraph(file: string, manifest: Manifest, session: ort.InferenceSession): void {
  const fail = (field: string, msg: string) => {
    throw new ModelLoadError(`${file}: ${field}: ${msg}`);
  };
  const graphInputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  manifest.inputs.forEach((input, i) => {
    const meta = graphInputs.get(input.name);
    if (!meta) fail(`inputs.${i}.name`, `the graph has no input "${input.name}" (it has ${[...graphInputs.keys()].join(', ')})`);
    if (meta && meta.isTensor && meta.type !== input.dtype) fail(`inputs.${i}.dtype`, `the graph's "${input.name}" is ${meta.type}, not ${input.dtype}`);
  });
  const declared = new Set(manifest.inputs.map((i) => i.name));
  for (const name of graphInputs.keys()) {
    if (!declared.has(name)) fail('inputs', `the graph takes an input "${name}" the manifest does not declare`);
  }
  if (manifest.chunking) {
    const state = session.outputMetadata.find((m) => m.name === 'state');
    if (!state) fail('chunking', `the generator has no output "state" (it has ${session.outputNames.join(', ')})`);
    const dims = state && state.isTensor ? state.shape : [];
    if (dims.length !== 2 || (typeof dims[1] === 'number' && dims[1] !== manifest.chunking.state_size)) {
      fail('chunking.state_size', `the generator's "state" is [${dims.join(', ')}], expected [batch, ${manifest.chunking.state_size}]`);
    }
    return;
  }
  checkLoraOutputs(file, manifest, session);
}

/** The graph that emits the LoRA tensors (the generator, or a chunked model's combine graph) has the groups' outputs. */
function checkLoraOutputs(file: string, manifest: Manifest, session: ort.InferenceSession): void {
  const fail = (field: string, msg: string) => {
    throw new ModelLoadError(`${file}: ${field}: ${msg}`);
  };
  const graphOutputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const { r } = manifest.lora;
  manifest.groups.forEach((g, i) => {
    const expect: [string, string, (number | string)[]][] = [
      ['output_a', g.output_a, [g.modules.length, r, g.in]],
      ['output_b', g.output_b, [g.modules.length, g.out, r]],
    ];
    for (const [field, name, dims] of expect) {
      const meta = graphOutputs.get(name);
      if (!meta) fail(`groups.${i}.${field}`, `the graph has no output "${name}"`);
      if (meta && meta.isTensor) {
        if (meta.type !== 'float32' && meta.type !== 'float16') fail(`groups.${i}.${field}`, `output "${name}" is ${meta.type}, not float32/float16`);
        const shape = meta.shape;
        if (shape.length !== 4) fail(`groups.${i}.${field}`, `output "${name}" has rank ${shape.length}, expected [batch, ${dims.join(', ')}]`);
        dims.forEach((d, k) => {
          const got = shape[k + 1];
          if (typeof got === 'number' && got !== d) {
            fail(`groups.${i}.${field}`, `output "${name}" has [${shape.join(', ')}], expected [batch, ${dims.join(', ')}]`);
          }
        });
      }
    }
  });
}

export interface RegistryOptions {
  dirs: string[];
  /** Verify graphs by opening an onnxruntime session (CPU) and closing it again. */
  verifyGraphs?: boolean;
}

/**
 * The loaded generators, by id.
 *
 * @example
 * const registry = await ModelRegistry.load({ dirs: ['./models'] });
 * registry.get('generative-adapter-tiny');
 */
export class ModelRegistry {
  private readonly models = new Map<string, LoadedModel>();

  private constructor(models: LoadedModel[]) {
    for (const m of models) this.models.set(m.manifest.id, m);
  }

  static async load(options: RegistryOptions): Promise<ModelRegistry> {
    const loaded: LoadedModel[] = [];
    for (const root of options.dirs) {
      if (!existsSync(root)) continue;
      for (const entry of readdirSync(root).sort()) {
        const dir = path.join(root, entry);
        const manifestFile = path.join(dir, 'manifest.json');
        if (!statSync(dir).isDirectory() || !existsSync(manifestFile)) continue;
        loaded.push(await loadModel(dir, manifestFile, options.verifyGraphs ?? true));
      }
    }
    const seen = new Set<string>();
    for (const m of loaded) {
      if (seen.has(m.manifest.id)) throw new ModelLoadError(`${m.dir}/manifest.json: id: "${m.manifest.id}" is used by two model directories`);
      seen.add(m.manifest.id);
    }
    return new ModelRegistry(loaded);
  }

  list(): LoadedModel[] {
    return [...this.models.values()];
  }

  get(id: string): LoadedModel | undefined {
    return this.models.get(id);
  }

  has(id: string): boolean {
    return this.models.has(id);
  }
}

async function loadModel(dir: string, manifestFile: string, verify: boolean): Promise<LoadedModel> {
  const manifest = parseManifestFile(manifestFile);
  const generatorPath = path.join(dir, manifest.generator);
  if (!existsSync(generatorPath)) throw new ModelLoadError(`${manifestFile}: generator: file ${manifest.generator} does not exist`);
  const actual = await sha256File(generatorPath);
  if (actual !== manifest.sha256) {
    throw new ModelLoadError(`${manifestFile}: sha256: ${manifest.generator} has sha256 ${actual}, the manifest says ${manifest.sha256}`);
  }
  const combinePath = manifest.chunking ? path.join(dir, manifest.chunking.graph) : undefined;
  if (manifest.chunking && combinePath) {
    if (!existsSync(combinePath)) throw new ModelLoadError(`${manifestFile}: chunking.graph: file ${manifest.chunking.graph} does not exist`);
    const got = await sha256File(combinePath);
    if (got !== manifest.chunking.sha256) throw new ModelLoadError(`${manifestFile}: chunking.sha256: ${manifest.chunking.graph} has sha256 ${got}, the manifest says ${manifest.chunking.sha256}`);
  }
  if (manifest.base) {
    const basePath = path.join(dir, manifest.base.file);
    if (!existsSync(basePath)) throw new ModelLoadError(`${manifestFile}: base.file: file ${manifest.base.file} does not exist`);
    if (manifest.base.hf && !existsSync(path.join(dir, manifest.base.hf, 'config.json'))) {
      throw new ModelLoadError(`${manifestFile}: base.hf: ${manifest.base.hf}/config.json does not exist`);
    }
  }
  let tokenizer: TextTokenizer | undefined;
  if (manifest.condition.kind === 'text') {
    const tokFile = path.join(dir, manifest.condition.tokenizer);
    if (!existsSync(tokFile)) throw new ModelLoadError(`${manifestFile}: condition.tokenizer: file ${manifest.condition.tokenizer} does not exist`);
    try {
      tokenizer = TextTokenizer.fromFile(tokFile);
    } catch (err) {
      throw new ModelLoadError(`${manifestFile}: condition.tokenizer: ${manifest.condition.tokenizer} does not load (${(err as Error).message})`);
    }
    const problem = tokenizer.checkIds();
    if (problem) throw new ModelLoadError(`model ${manifest.id} (${manifestFile}): condition.tokenizer: ${problem}`);
  }
  if (verify) {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(generatorPath, { executionProviders: ['cpu'] });
    } catch (err) {
      throw new ModelLoadError(`${manifestFile}: generator: ${manifest.generator} is not a loadable ONNX model (${(err as Error).message})`);
    }
    try {
      checkGraph(manifestFile, manifest, session);
    } finally {
      await session.release();
    }
    if (combinePath) {
      const combine = await ort.InferenceSession.create(combinePath, { executionProviders: ['cpu'] }).catch((err: unknown) => {
        throw new ModelLoadError(`${manifestFile}: chunking.graph: ${manifest.chunking!.graph} is not a loadable ONNX model (${(err as Error).message})`);
      });
      try {
        if (combine.inputNames.length !== 1 || combine.inputNames[0] !== 'state') throw new ModelLoadError(`${manifestFile}: chunking.graph: ${manifest.chunking!.graph} must take one input "state" (it takes ${combine.inputNames.join(', ')})`);
        checkLoraOutputs(manifestFile, manifest, combine);
      } finally {
        await combine.release();
      }
    }
  }
  return { manifest, dir, generatorPath, ...(combinePath ? { combinePath } : {}), tokenizer, view: modelView(manifest) };
}
