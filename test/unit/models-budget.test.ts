/**
 * Everything shipped under models/ (generators, bases, Hugging Face copies, eval data, cards,
 * training code) fits the repository's 48 MB budget. Git-ignored training output (checkpoints,
 * generated data, staging) is not shipped and not counted; a symlink (one model's hf/ pointing
 * at another's identical base) counts once, as git stores it.
 */
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { SHIPPED_MODELS_DIR } from '../helpers/test-service.js';

const BUDGET = 48 * 1024 * 1024;
const NOT_SHIPPED = new Set(['training/ckpt', 'training/data', '.staging']);

function shippedBytes(dir: string, rel = ''): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (NOT_SHIPPED.has(r) || e.name === '__pycache__') continue;
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? shippedBytes(p, r) : lstatSync(p).size;
  }
  return n;
}

it('models/ stays within its 48 MB budget', () => {
  const bytes = shippedBytes(SHIPPED_MODELS_DIR);
  expect(bytes).toBeGreaterThan(10 * 1024 * 1024); // the walk found the models
  expect(bytes).toBeLessThanOrEqual(BUDGET);
});
