/**
 * float32 → float16 runs inside onnxruntime, not in JavaScript: a one-node-per-output graph
 * built at load time per model casts a whole batch's LoRA outputs with MLAS's vectorised
 * conversion (round to nearest even, subnormals kept — bit-identical to torch's
 * `.to(torch.float16)`, checked against the golden files). About 10× faster than a JS loop.
 * (bfloat16 stays in JavaScript: onnxruntime-node cannot hand a bfloat16 tensor back.)
 */
import { buildOnnxModel, ONNX_FLOAT, ONNX_FLOAT16, type NodeSpec, type ValueSpec } from './onnx-graph.js';

/** The graph's input and output names for generator output `name`. */
export const castInput = (name: string) => `in__${name}`;
export const castOutput = (name: string) => `f16__${name}`;

/**
 * `in__<output>` float32 [batch, k] → `f16__<output>` float16 [batch, k], one per output.
 *
 * @example
 * const session = await ort.InferenceSession.create(buildFloat16CastGraph(['lora_A__q_proj']));
 */
export function buildFloat16CastGraph(outputs: string[]): Buffer {
  const nodes: NodeSpec[] = [];
  const inputs: ValueSpec[] = [];
  const graphOutputs: ValueSpec[] = [];
  outputs.forEach((name, i) => {
    inputs.push({ name: castInput(name), type: ONNX_FLOAT, shape: ['batch', `k${i}`] });
    nodes.push({ op: 'Cast', inputs: [castInput(name)], outputs: [castOutput(name)], attrs: { to: ONNX_FLOAT16 } });
    graphOutputs.push({ name: castOutput(name), type: ONNX_FLOAT16, shape: ['batch', `k${i}`] });
  });
  return buildOnnxModel({ name: 'cast-float16', inputs, outputs: graphOutputs, nodes, initializers: [] });
}
