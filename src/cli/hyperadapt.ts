#!/usr/bin/env node
/**
 * `hyperadapt` — the command line client.
 *
 *   hyperadapt models
 *   hyperadapt generate --model M --context-file F [--field context] [--dtype float16] [--extends ad_…] --out DIR
 *   hyperadapt personalize --model M --images a.png b.jpg --out DIR
 *   hyperadapt jobs get ID
 *   hyperadapt adapters get|pin|unpin|delete ID
 *   hyperadapt usage
 *   hyperadapt deploy ID --target T [--name N]      hyperadapt deployments ID
 *   hyperadapt ask ID "question"     (the adapter's answer beside the base model's)
 *   hyperadapt samples ID --out grid.png [--n 4] [--seed 0] [--class C]
 *
 * Server: --url or HYPERADAPT_URL (default http://127.0.0.1:8080); key: --api-key or
 * HYPERADAPT_API_KEY. Exits non-zero with the server's error message when anything fails.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadClientConfig } from '../config/config.js';
import { HyperadaptApiError, HyperadaptClient, type JobView } from '../client/hyperadapt-client.js';
import { followJob, progressReporter } from './follow-job.js';

const USAGE = `usage:
  hyperadapt models
  hyperadapt generate --model M --context-file F [--field context] [--dtype float32|float16|bfloat16] [--extends ad_…] --out DIR
      (--extends: a new adapter that reads the parent's context, then this file; chunked models)
  hyperadapt personalize --model M --images a.png [b.jpg ...] --out DIR
  hyperadapt jobs get ID
  hyperadapt adapters get|pin|unpin|delete ID
  hyperadapt usage
  hyperadapt deploy ID --target T [--name N]   (waits until loaded or failed)
  hyperadapt deployments ID
  hyperadapt ask ID "question"   (the adapter's answer beside the base model's)
  hyperadapt samples ID --out grid.png [--n 4] [--seed 0] [--class C]   (base samples over adapted ones)
options: --url URL  --api-key KEY`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    'api-key': { type: 'string' },
    model: { type: 'string' },
    'context-file': { type: 'string' },
    field: { type: 'string', default: 'context' },
    dtype: { type: 'string' },
    images: { type: 'string', multiple: true },
    out: { type: 'string' },
    target: { type: 'string' },
    name: { type: 'string' },
    extends: { type: 'string' },
    n: { type: 'string' },
    seed: { type: 'string' },
    class: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

function fail(message: string, code = 1): never {
  process.stderr.write(`hyperadapt: ${message}\n`);
  process.exit(code);
}

async function download(client: HyperadaptClient, job: JobView, out: string): Promise<void> {
  if (job.status !== 'succeeded' || !job.adapter_id) {
    fail(`job ${job.id} ${job.status}${job.error ? `: ${job.error.message} (${job.error.code})` : ''}`);
  }
  const adapter = await client.getAdapter(job.adapter_id);
  mkdirSync(out, { recursive: true });
  for (const f of adapter.files) {
    const bytes = await client.downloadFile(adapter, f.name); // verified against its sha256
    writeFileSync(path.join(out, f.name), bytes);
  }
  process.stdout.write(`${adapter.id} → ${out} (${adapter.files.map((f) => f.name).join(', ')}; sha256 verified)\n`);
}

async function main(): Promise<void> {
  const [command, sub, arg] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const env = loadClientConfig();
  const client = new HyperadaptClient({ baseUrl: values.url ?? env.url, apiKey: values['api-key'] ?? env.apiKey });
  const progress = progressReporter(process.stderr);

  if (command === 'models') {
    for (const m of await client.listModels()) {
      process.stdout.write(`${m.id.padEnd(28)} ${m.kind.padEnd(7)} ${m.method.padEnd(24)} inputs: ${Object.keys(m.inputs).join(', ')}  r=${m.lora.r}\n`);
    }
  } else if (command === 'generate') {
    if (!values.model || !values['context-file'] || !values.out) fail(`generate needs --model, --context-file and --out\n${USAGE}`, 2);
    const text = readFileSync(values['context-file'], 'utf8');
    const job = await client.createAdapter({
      model: values.model,
      input: { [values.field!]: text },
      ...(values.dtype ? { options: { dtype: values.dtype as 'float32' } } : {}),
      ...(values.extends ? { extends: values.extends } : {}),
    });
    const final = await followJob(client, job, progress);
    progress.done();
    await download(client, final, values.out);
  } else if (command === 'personalize') {
    if (!values.model || !values.images?.length || !values.out) fail(`personalize needs --model, --images and --out\n${USAGE}`, 2);
    const form = new FormData();
    form.set('model', values.model);
    for (const file of values.images) form.append('images', new Blob([readFileSync(file)]), path.basename(file));
    const res = await fetch(`${(values.url ?? env.url).replace(/\/+$/, '')}/v1/personalizations`, {
      method: 'POST',
      body: form,
      headers: values['api-key'] ?? env.apiKey ? { authorization: `Bearer ${values['api-key'] ?? env.apiKey}` } : {},
    });
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string; code?: string } } & JobView;
    if (!res.ok) fail(`${body.error?.message ?? `the server answered ${res.status}`}${body.error?.code ? ` (${body.error.code})` : ''}`);
    const final = await followJob(client, body, progress);
    progress.done();
    await download(client, final, values.out);
  } else if (command === 'jobs' && sub === 'get' && arg) {
    process.stdout.write(`${JSON.stringify(await client.getJob(arg), null, 2)}\n`);
  } else if (command === 'adapters' && arg && ['get', 'pin', 'unpin', 'delete'].includes(sub ?? '')) {
    if (sub === 'delete') {
      await client.deleteAdapter(arg);
      process.stdout.write(`${arg} deleted\n`);
    } else {
      const adapter = sub === 'get' ? await client.getAdapter(arg) : await client.setPinned(arg, sub === 'pin');
      process.stdout.write(`${JSON.stringify(adapter, null, 2)}\n`);
    }
  } else if (command === 'deploy' && sub) {
    if (!values.target) fail(`deploy needs --target\n${USAGE}`, 2);
    let d = await client.deploy(sub, values.target, values.name);
    for (const deadline = Date.now() + 120_000; d.status === 'pending' && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 250));
      d = (await client.listDeployments(sub)).data.find((x) => x.name === d.name) ?? d;
    }
    if (d.status !== 'loaded') fail(`deployment ${d.name} to ${d.target} is ${d.status}${d.error ? `: ${d.error}` : ''}`);
    process.stdout.write(`${sub} loaded on ${d.target} as ${d.name} (${d.lora_path})\n`);
  } else if (command === 'ask' && sub && arg) {
    const p = await client.preview(sub, { question: arg, compare_base: true });
    process.stdout.write(`adapter: ${p.output}\nbase:    ${p.base_output}\n`);
  } else if (command === 'samples' && sub) {
    if (!values.out) fail(`samples needs --out\n${USAGE}`, 2);
    const int = (v: string | undefined, name: string) => {
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v)) fail(`--${name} must be a whole number`, 2);
      return Number(v);
    };
    const png = await client.samples(sub, { n: int(values.n, 'n'), seed: int(values.seed, 'seed'), class: values.class });
    writeFileSync(values.out, png);
    process.stdout.write(`${values.out}: base samples (top row) and adapted samples (bottom row), ${png.length} bytes\n`);
  } else if (command === 'deployments' && sub) {
    for (const d of (await client.listDeployments(sub)).data) process.stdout.write(`${d.target.padEnd(20)} ${d.name.padEnd(48)} ${d.status}${d.error ? `  ${d.error}` : ''}\n`);
  } else if (command === 'usage') {
    const u = await client.usage();
    const quota = u.quota_bytes === null ? 'unlimited' : `${u.quota_bytes} bytes`;
    process.stdout.write(`tenant ${u.tenant}: ${u.adapters} adapters, ${u.stored_bytes} bytes stored (${u.pinned_bytes} pinned), quota ${quota}; unpinned adapters expire ${u.adapter_ttl_seconds} s after their last use\n`);
  } else {
    fail(`unknown command\n${USAGE}`, 2);
  }
}

main().catch((err: unknown) => {
  if (err instanceof HyperadaptApiError) fail(`${err.message} (${err.code}, HTTP ${err.status})`);
  fail(err instanceof Error ? err.message : String(err));
});
