/**
 * POST /v1/personalizations with real images made by sharp, the diffusers/kohya round trip, and
 * hostile uploads — each its documented 4xx while the server stays healthy.
 */
import http from 'node:http';
import sharp from 'sharp';
import { readSafetensors } from '../../src/adapters/safetensors.js';
import { call, startTestService, waitForJob, type TestService } from '../helpers/test-service.js';

const MODEL = 'fixture-image-tiny';
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { MAX_IMAGE_BYTES: '400000', MAX_UPLOAD_BYTES: '700000', MAX_IMAGE_PIXELS: '4000000' } });
});
afterAll(async () => {
  await svc?.close();
});

const solid = (w: number, h: number, r: number, g: number, b: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } });
const noise = (w: number, h: number) => sharp(Buffer.from(Array.from({ length: w * h * 3 }, () => Math.floor(Math.random() * 256))), { raw: { width: w, height: h, channels: 3 } });

async function images() {
  return {
    png: await solid(64, 48, 200, 30, 30).png().toBuffer(),
    jpegExif: await solid(60, 40, 30, 200, 30).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    webp: await solid(50, 50, 30, 30, 200).webp().toBuffer(),
    rgba: await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer(),
    gray: await solid(32, 32, 128, 128, 128).toColourspace('b-w').png().toBuffer(),
    png16: await solid(32, 32, 10, 20, 30).png().toColourspace('rgb16').toBuffer(),
  };
}

function form(parts: { name: string; value: string | Buffer; filename?: string; type?: string }[]): FormData {
  const f = new FormData();
  for (const p of parts) {
    if (typeof p.value === 'string' && !p.filename) f.append(p.name, p.value);
    else f.append(p.name, new Blob([p.value as BlobPart], { type: p.type ?? 'application/octet-stream' }), p.filename ?? 'file');
  }
  return f;
}

async function postForm(f: FormData, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}/v1/personalizations`, { method: 'POST', body: f, headers });
  return { status: res.status, body: (await res.json()) as any };
}

describe('POST /v1/personalizations', () => {
  it('accepts PNG, EXIF-rotated JPEG, WebP, RGBA, grayscale and 16-bit PNG, and writes a diffusers LoRA', async () => {
    const img = await images();
    const f = form([
      { name: 'model', value: MODEL },
      { name: 'images', value: img.png, filename: 'a.png', type: 'image/png' },
      { name: 'images', value: img.jpegExif, filename: 'b.jpg', type: 'image/jpeg' },
      { name: 'images', value: img.webp, filename: 'c.webp', type: 'image/webp' },
      { name: 'images', value: img.rgba, filename: 'd.png', type: 'image/png' },
      { name: 'metadata', value: JSON.stringify({ subject: 's1' }) },
    ]);
    const r = await postForm(f, { prefer: 'wait=10' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'succeeded', kind: 'images', model: MODEL, metadata: { subject: 's1' } });
    for (const extra of [img.gray, img.png16]) {
      const one = await postForm(form([{ name: 'model', value: MODEL }, { name: 'images', value: extra, filename: 'x.png' }]), { prefer: 'wait=10' });
      expect(one.body.status).toBe('succeeded');
    }
    const adapter = (await call(svc.url, 'GET', `/v1/adapters/${r.body.adapter_id}`)).body;
    expect(adapter).toMatchObject({ format: 'diffusers', r: 4, base_model: 'hyperadapt/fixture-unet' });
    expect(adapter.files.map((x: any) => x.name)).toEqual(['pytorch_lora_weights.safetensors']);
    const bytes = new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${adapter.id}/files/pytorch_lora_weights.safetensors`)).arrayBuffer());
    const st = readSafetensors(bytes);
    const manifest = svc.registry.get(MODEL)!.manifest;
    const g = manifest.groups[0]!;
    for (const m of g.modules) {
      expect(st.tensors[`unet.${m}.lora_A.weight`]!.shape).toEqual([4, g.in]);
      expect(st.tensors[`unet.${m}.lora_B.weight`]!.shape).toEqual([g.out, 4]);
    }
    expect(Object.keys(st.tensors)).toHaveLength(g.modules.length * 2);
    expect(st.metadata.format).toBe('pt');
  });

  it('writes kohya keys (lora_down, lora_up, alpha) on request, from base64 JSON', async () => {
    const { png } = await images();
    const r = await call(svc.url, 'POST', '/v1/personalizations', { model: MODEL, images: [{ data: png.toString('base64') }], options: { format: 'kohya', dtype: 'float16' } }, { prefer: 'wait=10' });
    expect(r.status).toBe(200);
    const adapter = (await call(svc.url, 'GET', `/v1/adapters/${r.body.adapter_id}`)).body;
    expect(adapter.format).toBe('kohya');
    const st = readSafetensors(new Uint8Array(await (await fetch(`${svc.url}/v1/adapters/${adapter.id}/files/lora.safetensors`)).arrayBuffer()));
    const key = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
    expect(st.tensors[`${key}.lora_down.weight`]!.shape).toEqual([4, 32]);
    expect(st.tensors[`${key}.lora_up.weight`]!.shape).toEqual([32, 4]);
    expect(st.tensors[`${key}.alpha`]!.shape).toEqual([]);
    expect(st.tensors[`${key}.lora_down.weight`]!.dtype).toBe('F16');
  });

  it('gives the same adapter id for the same images, uploaded again or sent as base64', async () => {
    const { png, webp } = await images();
    const a = await postForm(form([{ name: 'model', value: MODEL }, { name: 'images', value: png, filename: 'a.png' }, { name: 'images', value: webp, filename: 'b.webp' }]), { prefer: 'wait=10' });
    const b = await postForm(form([{ name: 'model', value: MODEL }, { name: 'images', value: png, filename: 'renamed.png' }, { name: 'images', value: webp, filename: 'z.webp' }]));
    const c = await call(svc.url, 'POST', '/v1/personalizations', { model: MODEL, images: [{ data: png.toString('base64') }, { data: webp.toString('base64') }] });
    expect(b.status).toBe(200);
    expect(b.body.cached).toBe(true);
    expect(b.body.adapter_id).toBe(a.body.adapter_id);
    expect(c.body.adapter_id).toBe(a.body.adapter_id);
  });
});

/** A PNG signature + IHDR chunk claiming width × height, with a correct CRC, and no pixels. */
function pngHeader(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const data = Buffer.alloc(13);
  data.writeUInt32BE(width, 0);
  data.writeUInt32BE(height, 4);
  data.set([8, 2, 0, 0, 0], 8);
  const type = Buffer.from('IHDR');
  const chunk = Buffer.concat([Buffer.from([0, 0, 0, 13]), type, data, Buffer.alloc(4)]);
  chunk.writeUInt32BE(crc(Buffer.concat([type, data])), 21);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk]);
}

/** Sends a multipart body by hand; `cut` ends it early (no closing boundary). */
function rawMultipart(body: Buffer, boundary: string, mode: 'cut' | 'abort'): Promise<number | 'aborted'> {
  return new Promise((resolve) => {
    const url = new URL(`${svc.url}/v1/personalizations`);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': mode === 'abort' ? body.length * 4 : body.length } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve('aborted'));
    req.write(body);
    if (mode === 'cut') req.end();
    else setTimeout(() => req.destroy(), 100);
  });
}

describe('hostile uploads', () => {
  let text: { id: string };
  beforeAll(async () => {
    // A text job in flight while the hostile uploads arrive: it must be unaffected.
    text = (await call(svc.url, 'POST', '/v1/adapters', { model: 'fixture-text-tiny', input: { context: 'unaffected by hostile uploads' } })).body;
  });

  const one = (value: Buffer, filename = 'x.png') => form([{ name: 'model', value: MODEL }, { name: 'images', value, filename, type: 'image/png' }]);

  it.each([
    ['an empty part (0 bytes)', async () => postForm(one(Buffer.alloc(0))), 422, /empty/],
    ['a text file named .png', async () => postForm(one(Buffer.from('hello, I am not an image\n'))), 415, /PNG, JPEG or WebP/],
    ['a GIF', async () => postForm(one(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), 'x.gif')), 415, /a GIF; send PNG, JPEG or WebP/],
    ['a truncated JPEG', async () => {
      const jpeg = await solid(64, 64, 1, 2, 3).jpeg().toBuffer();
      return postForm(one(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'x.jpg'));
    }, 422, /truncated or corrupt|not a decodable/],
    ['a 20000×20000 PNG header', async () => postForm(one(pngHeader(20000, 20000))), 413, /20000×20000 pixels; the limit is 4000000/],
    ['too many files', async () => {
      const { png } = await images();
      return postForm(form([{ name: 'model', value: MODEL }, ...Array.from({ length: 5 }, () => ({ name: 'images', value: png, filename: 'a.png' }))]));
    }, 422, /Too many images: at most 4/],
    ['no images', async () => postForm(form([{ name: 'model', value: MODEL }])), 422, /takes 1 to 4 images; got 0/],
    ['an image over the per-image limit', async () => postForm(one(await noise(400, 400).png().toBuffer())), 413, /400000 bytes per image/],
    ['a request over the upload limit', async () => {
      const parts = await Promise.all([1, 2, 3, 4].map(() => noise(250, 250).png().toBuffer()));
      return postForm(form([{ name: 'model', value: MODEL }, ...parts.map((p) => ({ name: 'images', value: p, filename: 'n.png' }))]));
    }, 413, /upload exceeds the limit of 700000 bytes/],
    ['a field over its limit', async () => postForm(form([{ name: 'model', value: MODEL }, { name: 'metadata', value: JSON.stringify({ k: 'x'.repeat(20000) }) }])), 413, /Field "metadata" exceeds/],
    ['options that are not JSON', async () => { const { png } = await images(); return postForm(form([{ name: 'model', value: MODEL }, { name: 'options', value: '{nope' }, { name: 'images', value: png, filename: 'a.png' }])); }, 400, /"options" must be a JSON string/],
    ['an unknown form field', async () => postForm(form([{ name: 'model', value: MODEL }, { name: 'colour', value: 'blue' }])), 400, /form fields/],
    ['a file under another field name', async () => postForm(form([{ name: 'model', value: MODEL }, { name: 'photo', value: Buffer.from('x'), filename: 'a.png' }])), 400, /Unexpected file field "photo"/],
    ['an unknown model', async () => { const { png } = await images(); return postForm(form([{ name: 'model', value: 'nope' }, { name: 'images', value: png, filename: 'a.png' }])); }, 404, /No model named "nope"/],
    ['a text model', async () => { const { png } = await images(); return postForm(form([{ name: 'model', value: 'fixture-text-tiny' }, { name: 'images', value: png, filename: 'a.png' }])); }, 400, /takes text/],
    ['a content type that is neither multipart nor JSON', async () => call(svc.url, 'POST', '/v1/personalizations', 'x', { 'content-type': 'text/plain' }), 415, /multipart\/form-data/],
    ['JSON whose image is not base64', async () => call(svc.url, 'POST', '/v1/personalizations', { model: MODEL, images: [{ data: '***' }] }), 400, /not base64/],
    ['a private webhook URL', async () => { const { png } = await images(); return postForm(form([{ name: 'model', value: MODEL }, { name: 'webhook_url', value: 'http://10.0.0.1/hook' }, { name: 'images', value: png, filename: 'a.png' }])); }, 400, /webhook URL/],
  ])('%s', async (...row) => {
    const [, send, status, message] = row;
    const r = await send();
    expect(r.status).toBe(status);
    expect(r.body.error.message).toMatch(message);
  });

  it('answers a multipart body cut off mid-stream with 400, and survives a client that vanishes', async () => {
    const boundary = 'XBOUNDARYX';
    const start = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${MODEL}\r\n--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n`, 'latin1');
    expect(await rawMultipart(start, boundary, 'cut')).toBe(400);
    await rawMultipart(start, boundary, 'abort');
    expect((await call(svc.url, 'GET', '/healthz')).status).toBe(200);
  });

  afterAll(async () => {
    // Healthy after all of it, and the text job that was in flight succeeded.
    expect((await call(svc.url, 'GET', '/readyz')).status).toBe(200);
    expect((await waitForJob(svc.url, text.id)).status).toBe('succeeded');
    const { png } = await images();
    const ok = await postForm(form([{ name: 'model', value: MODEL }, { name: 'images', value: png, filename: 'a.png' }]), { prefer: 'wait=10' });
    expect(ok.body.status).toBe('succeeded');
  });
});
