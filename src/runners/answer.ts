/**
 * "Apply an adapter to the base and decode": one implementation for the evaluation and the
 * preview API, so a preview answers exactly what `npm run eval` measures.
 */
import type { TextTokenizer } from '../conditioning/text-tokenizer.js';
import type { Manifest } from '../models/manifest-schema.js';
import type { BaseLm } from './base-lm.js';
import type { GroupLora } from './read-adapter.js';

/** Fills `{name}` placeholders of a model's prompt template. */
export function fillPrompt(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => values[k] ?? '');
}

/**
 * Greedy answers, one adapter per row, `batch` rows per forward pass.
 *
 * @example
 * const [a] = await answer(lm, tokenizer, manifest, ['where is the home of elio selwyn ?'], [lora]);
 */
export async function answer(lm: BaseLm, tok: TextTokenizer, manifest: Manifest, prompts: string[], loras: GroupLora[], opts: { maxNew?: number; batch?: number } = {}): Promise<string[]> {
  const eos = manifest.base?.eos_token_id ?? 0;
  const maxNew = opts.maxNew ?? manifest.base?.max_new_tokens ?? 8;
  const batch = opts.batch ?? 32;
  const out: string[] = [];
  for (let i = 0; i < prompts.length; i += batch) {
    const ids = prompts.slice(i, i + batch).map((p) => tok.encode(p));
    const gen = await lm.greedy(ids, loras.slice(i, i + batch), maxNew, eos);
    out.push(...gen.map((g) => tok.decode(g).trim()));
  }
  return out;
}
