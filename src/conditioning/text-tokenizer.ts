/**
 * Tokenizes text fields with a model's Hugging Face `tokenizer.json`, through the maintained
 * pure-JS `@huggingface/tokenizers` (no native binary, so it loads on every host and in worker
 * threads alike).
 */
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

export class TextTokenizer {
  private readonly tokenizer: Tokenizer;

  private constructor(tokenizer: Tokenizer) {
    this.tokenizer = tokenizer;
  }

  /**
   * @example
   * const tok = TextTokenizer.fromFile('models/generative-adapter-tiny/tokenizer.json');
   */
  static fromFile(file: string): TextTokenizer {
    const json = JSON.parse(readFileSync(file, 'utf8')) as object;
    const config = { model_max_length: Number.MAX_SAFE_INTEGER } as Record<string, unknown>;
    return new TextTokenizer(new Tokenizer(json, config));
  }

  /** Token ids of `text`, with the special tokens the tokenizer's post-processor adds. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text).ids;
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }
}
