/**
 * The playground page in a real browser: playwright-core driving Debian's Chromium (headless,
 * --no-sandbox) against the real service on loopback. The text flow makes an adapter from a
 * held-out document of the model's eval sample, follows the job's event stream, and shows the
 * adapter's answer (the expected one) beside the base model's (a different one); the image flow
 * shows the base-vs-adapted grid; an oversized document shows the API's 413 message; with keys,
 * the page works once the key is entered. Screenshots go to test-results/playground/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import type { EvalItem } from '../../src/eval/evaluate-model.js';
import { REPO_ROOT, SHIPPED_MODELS_DIR, startTestService, type TestService } from '../helpers/test-service.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'playground');
const TEXT_MODEL = 'generative-adapter-tiny';
const IMAGE_MODEL = 'hyper-personalize-tiny';
type Predicted = EvalItem & { answer: string; python_predictions: { closed_book: string; adapter: string } };
// A held-out document whose adapter answers right while the base alone does not (per the card's evaluation).
const item = (JSON.parse(readFileSync(path.join(SHIPPED_MODELS_DIR, TEXT_MODEL, 'eval-sample.json'), 'utf8')) as { items: Predicted[] }).items.find(
  (it) => it.python_predictions.adapter === it.answer && it.python_predictions.closed_book !== it.answer,
)!;
// The model's context limit in tokens: one window, or window × max_chunks for a chunked model.
const textManifest = JSON.parse(readFileSync(path.join(SHIPPED_MODELS_DIR, TEXT_MODEL, 'manifest.json'), 'utf8')) as { condition: { fields: { context: { max_tokens: number } } }; chunking?: { max_chunks: number } };
const contextLimit = textManifest.condition.fields.context.max_tokens * (textManifest.chunking?.max_chunks ?? 1);
/** A document over that limit: every word is at least one token, so this many words is too long. */
const oversized = (): string => {
  const words = item.context.split(/\s+/).length;
  return Array.from({ length: Math.ceil((contextLimit + 1) / words) }, () => item.context).join(' ');
};
const subjectImages = (): string[] => {
  const spec = JSON.parse(readFileSync(path.join(SHIPPED_MODELS_DIR, IMAGE_MODEL, 'eval', 'subjects.json'), 'utf8'));
  return spec.subjects[0].images.map((f: string) => path.join(SHIPPED_MODELS_DIR, IMAGE_MODEL, 'eval', f));
};

/** Waits until the element's text matches (playwright-core has no test runner's expect). */
async function textMatching(loc: Locator, re: RegExp, timeoutMs = 30000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await loc.textContent()) ?? '';
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`text ${JSON.stringify(text)} of ${String(loc)} never matched ${re}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let browser: Browser;
const services: TestService[] = [];
beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
}, 60000);
afterAll(async () => {
  await browser?.close();
  for (const s of services) await s.close();
});

async function open(env: Record<string, string> = {}): Promise<{ page: Page; external: string[]; errors: Error[] }> {
  const svc = await startTestService({ env: { MODELS_DIR: SHIPPED_MODELS_DIR, GC_INTERVAL_SECONDS: '0', ...env } });
  services.push(svc);
  const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
  // Every request the page makes must go to the service itself.
  const external: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(svc.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) external.push(r.url());
  });
  const errors: Error[] = [];
  page.on('pageerror', (e) => errors.push(e));
  const res = await page.goto(`${svc.url}/`);
  expect(page.url()).toBe(`${svc.url}/playground`);
  expect(res?.headers()['content-security-policy']).toContain("connect-src 'self'");
  return { page, external, errors };
}

describe('playground', () => {
  it('text: document → job followed live → adapter files → its answer beside the base model\'s', async () => {
    const { page, external, errors } = await open();
    await page.getByLabel('Model', { exact: true }).selectOption(TEXT_MODEL);
    await page.getByLabel('Document').fill(item.context!);
    await page.getByRole('button', { name: 'Make adapter' }).first().click();
    await textMatching(page.locator('#job-status'), /^succeeded$/);
    // The events came from the stream: at least the terminal one, listed in order.
    await textMatching(page.locator('#files'), /adapter_model\.safetensors/);
    expect(await page.locator('#job-events li').last().textContent()).toMatch(/job\.succeeded/);
    expect(await page.locator('#adapter-id').textContent()).toMatch(/^ad_[0-9a-f]{40}$/);
    expect(await page.locator('#files a', { hasText: 'adapter_config.json' }).getAttribute('href')).toMatch(/^\/v1\/adapters\/ad_[0-9a-f]{40}\/files\/adapter_config\.json$/);
    await page.getByLabel('Question').fill(item.question);
    await page.getByRole('button', { name: 'Ask' }).click();
    expect(await textMatching(page.locator('#answer-adapter'), /^[^…–]+$/)).toBe(item.answer);
    const base = await textMatching(page.locator('#answer-base'), /^[^…–]+$/);
    expect(base).not.toBe(item.answer);
    await page.screenshot({ path: path.join(SHOTS, 'text-flow.png'), fullPage: true });
    expect(external).toEqual([]);
    expect(errors).toEqual([]);
  }, 90000);

  it('text: an oversized document shows the API\'s 413 message', async () => {
    const { page } = await open();
    await page.getByLabel('Document').fill(oversized());
    await page.getByRole('button', { name: 'Make adapter' }).first().click();
    await textMatching(page.getByRole('alert'), new RegExp(`the limit is ${contextLimit} tokens.*\\(413 payload_too_large\\)`));
    expect(await page.locator('#job').isHidden()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'text-413.png'), fullPage: true });
  }, 60000);

  it('images: subject images → job → the base-vs-adapted grid', async () => {
    const { page, external, errors } = await open();
    await page.getByLabel('Model', { exact: true }).selectOption(IMAGE_MODEL);
    await page.getByLabel(/^Images/).setInputFiles(subjectImages());
    expect(await page.locator('#image-list li').count()).toBe(subjectImages().length);
    await page.locator('#image-form').getByRole('button', { name: 'Make adapter' }).click();
    await textMatching(page.locator('#job-status'), /^succeeded$/);
    await textMatching(page.locator('#files'), /pytorch_lora_weights\.safetensors/);
    await page.getByLabel('Seed').fill('3');
    await page.getByRole('button', { name: 'Draw' }).click();
    const grid = page.getByRole('img', { name: /samples of a .*base model above, with the adapter below/ });
    await grid.waitFor({ state: 'visible' });
    await page.waitForFunction(() => (document.getElementById('grid') as HTMLImageElement).complete);
    const size = await grid.evaluate((img: HTMLImageElement) => ({ w: img.naturalWidth, h: img.naturalHeight }));
    expect(size).toEqual({ w: 4 * (2 + 4 * 34 + 4), h: 4 * (2 + 2 * 34) });
    await page.screenshot({ path: path.join(SHOTS, 'image-flow.png'), fullPage: true });
    expect(external).toEqual([]);
    expect(errors).toEqual([]);
  }, 90000);

  it('with API keys: the API\'s 401 until a key is entered, then the models load', async () => {
    const { page } = await open({ API_KEYS: 'play:playground-key-0123456789' });
    await textMatching(page.getByRole('alert'), /\(401 unauthorized\)/);
    await page.getByLabel('API key').fill('playground-key-0123456789');
    await page.getByLabel('API key').press('Enter');
    await page.getByLabel('Model', { exact: true }).locator('option').nth(2).waitFor({ state: 'attached' });
    expect(await page.getByLabel('Model', { exact: true }).locator('option').count()).toBe(3);
    expect(await page.getByRole('alert').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('hyperadapt.apiKey'))).toBe('playground-key-0123456789');
  }, 60000);
});
