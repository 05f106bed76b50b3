/**
 * Tokenizes text fields with a model's Hugging Face `tokenizer.json`, through the maintained
 * pure-JS `@huggingface/tokenizers` (no native binary, so it loads on every host and in worker
 * threads alike).
 */
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

/** Text a generator must be able to take: unknown words, digits, punctuation, accents, emoji. */
const PROBES = ['zqxjv wümbleflöck 1234567890', 'Ωmega — “quoted” ü ß 東京 🙂', 'the of and a . , ; : ! ? ( )'];

/** Texts whose token counts are remembered, and the longest text remembered (bounded memory). */
const COUNT_CACHE_ENTRIES = 4096;
const COUNT_CACHE_MAX_CHARS = 8192;

export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly counts = new Map<string, number>();
  /** One past the largest id the tokenizer.json defines (vocabulary and added tokens). */
  readonly vocabSize: number;

  private constructor(tokenizer: Tokenizer, vocabSize: number) {
    this.tokenizer = tokenizer;
    this.vocabSize = vocabSize;
  }

  /**
   * @example
   * const tok = TextTokenizer.fromFile('models/generative-adapter-tiny/tokenizer.json');
   */
  static fromFile(file: string): TextTokenizer {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { model?: { vocab?: unknown }; added_tokens?: { id: number }[] };
    const config = { model_max_length: Number.MAX_SAFE_INTEGER } as Record<string, unknown>;
    const vocab = json.model?.vocab;
    const ids = Array.isArray(vocab) ? [vocab.length - 1] : Object.values((vocab ?? {}) as Record<string, number>);
    for (const t of json.added_tokens ?? []) ids.push(t.id);
    return new TextTokenizer(new Tokenizer(json, config), Math.max(-1, ...ids.filter(Number.isInteger)) + 1);
  }

  /**
   * A message when some text would give the generator an id it cannot take (a tokenizer without
   * an unknown token yields `undefined` for an unknown word), else undefined. Checked at start-up
   * so such a model is refused by name, not failed job by job.
   */
  checkIds(): string | undefined {
    for (const text of PROBES) {
      const ids = this.encode(text);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (Number.isInteger(id) && id! >= 0 && id! < this.vocabSize) continue;
        return `tokenizing ${JSON.stringify(text)} gives id ${String(id)}, which is not in the vocabulary (0–${this.vocabSize - 1}); give the tokenizer an unknown token`;
      }
    }
    return undefined;
  }

  /** Token ids of `text`, with the special tokens the tokenizer's post-processor adds. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text).ids;
  }

  /**
   * How many tokens `text` is. Remembered for the most recent texts: the API checks every
   * request's length before it knows whether the adapter is cached, and a cache hit is by
   * definition a text seen before.
   */
  count(text: string): number {
    const known = this.counts.get(text);
    if (known !== undefined) {
      // Refresh: a Map iterates in insertion order, so the oldest entry is evicted first.
      this.counts.delete(text);
      this.counts.set(text, known);
      return known;
    }
    const n = this.encode(text).length;
    if (text.length <= COUNT_CACHE_MAX_CHARS) {
      this.counts.set(text, n);
      if (this.counts.size > COUNT_CACHE_ENTRIES) this.counts.delete(this.counts.keys().next().value!);
    }
    return n;
  }

  /** Ids of the tokens that end a sentence ('.', '?', '!' where each is one token). */
  sentenceEnds(): Set<number> {
    const ends = new Set<number>();
    for (const p of ['.', '?', '!']) {
      const ids = this.encode(p);
      if (ids.length === 1) ends.add(ids[0]!);
    }
    return ends;
  }

  /** The text of `ids`; '' for none (a model whose first output is end-of-sequence said nothing). */
  decode(ids: number[]): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }
}
