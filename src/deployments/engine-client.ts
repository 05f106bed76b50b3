/**
 * The serving engines' runtime LoRA APIs. vLLM (with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):
 * `POST /v1/load_lora_adapter` and `/v1/unload_lora_adapter`; SGLang: `POST /load_lora_adapter`
 * and `/unload_lora_adapter`; both take `{lora_name, lora_path}` (unload: `{lora_name}`).
 */
import type { DeployTarget } from './targets.js';

/** An engine's answer: retryable when it could not be reached or failed on its side (5xx). */
export class EngineError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'EngineError';
  }
}

const ROUTES = {
  vllm: { load: '/v1/load_lora_adapter', unload: '/v1/unload_lora_adapter' },
  sglang: { load: '/load_lora_adapter', unload: '/unload_lora_adapter' },
} as const;

async function call(target: DeployTarget, route: string, body: object): Promise<{ status: number; text: string }> {
  const url = new URL(route, target.url).href;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(target.api_key ? { authorization: `Bearer ${target.api_key}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(target.timeout_ms),
    });
  } catch (err) {
    throw new EngineError(`${target.name} (${url}) could not be reached: ${(err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message}`, true);
  }
  return { status: res.status, text: (await res.text()).slice(0, 2000) };
}

/**
 * Asks the engine to load the adapter at `loraPath` as `name`.
 *
 * @example
 * await loadAdapter(target, 'ad_…', '/shared/loras/ad_…');
 */
export async function loadAdapter(target: DeployTarget, name: string, loraPath: string): Promise<void> {
  if (target.kind === 'vllm-resolver') return; // the engine resolves by name on first use
  const r = await call(target, ROUTES[target.kind].load, { lora_name: name, lora_path: loraPath });
  if (r.status >= 200 && r.status < 300) return;
  throw new EngineError(`${target.name} answered ${r.status} to loading ${name}: ${r.text}`, r.status >= 500 || r.status === 429);
}

/** Asks the engine to unload `name`; an engine that does not know it (404) counts as done. */
export async function unloadAdapter(target: DeployTarget, name: string): Promise<void> {
  if (target.kind === 'vllm-resolver') return;
  const r = await call(target, ROUTES[target.kind].unload, { lora_name: name });
  if ((r.status >= 200 && r.status < 300) || r.status === 404) return;
  // vLLM answers 400 "not found" for an adapter it does not hold.
  if (r.status === 400 && /not found|does not exist|no adapter/i.test(r.text)) return;
  throw new EngineError(`${target.name} answered ${r.status} to unloading ${name}: ${r.text}`, r.status >= 500 || r.status === 429);
}
