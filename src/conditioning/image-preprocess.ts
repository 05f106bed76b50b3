/**
 * Subject images → the RGB pixels a model's manifest asks for, with sharp (libvips; it decodes
 * in libuv's thread pool, off the event loop). The format is decided by the bytes, not by the
 * file name or the declared type; the pixel count is read from the header and refused before
 * any decoding, so a decompression bomb costs a few hundred bytes of reading.
 */
import sharp, { type Metadata } from 'sharp';
import { AppError } from '../errors/app-error.js';

export const ACCEPTED_FORMATS = ['png', 'jpeg', 'webp'] as const;
export type ImageFormat = (typeof ACCEPTED_FORMATS)[number];

export interface ImageSpec {
  size: [number, number]; // [H, W]
  resize: 'cover' | 'contain';
  background?: [number, number, number];
}

/** The format the bytes are, by magic number; undefined when they are none we accept. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && Buffer.from(b.subarray(0, 4)).toString('latin1') === 'RIFF' && Buffer.from(b.subarray(8, 12)).toString('latin1') === 'WEBP') return 'webp';
  return undefined;
}

/**
 * Width and height from the file header alone (PNG IHDR, JPEG SOFn, WebP VP8/VP8L/VP8X), so a
 * decompression bomb is refused before any decoder sees it. Undefined when the header is short.
 */
export function headerDimensions(bytes: Uint8Array, format: ImageFormat): { width: number; height: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') return b.length >= 24 ? { width: b.readUInt32BE(16), height: b.readUInt32BE(20) } : undefined;
  if (format === 'webp') {
    if (b.length < 30) return undefined;
    const chunk = b.toString('latin1', 12, 16);
    if (chunk === 'VP8X') return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
    if (chunk === 'VP8L') {
      const bits = b.readUInt32LE(21);
      return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
    }
    if (chunk === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
    return undefined;
  }
  // JPEG: walk the marker segments to the first start-of-frame.
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: b.readUInt16BE(i + 7), height: b.readUInt16BE(i + 5) };
    }
    i += 2 + len;
  }
  return undefined;
}

function describeOther(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 12));
  if (head.subarray(0, 3).toString('latin1') === 'GIF') return 'a GIF';
  if (head.subarray(0, 2).toString('latin1') === 'BM') return 'a BMP';
  if (head.subarray(0, 4).equals(Buffer.from([0x49, 0x49, 0x2a, 0x00])) || head.subarray(0, 4).equals(Buffer.from([0x4d, 0x4d, 0x00, 0x2a]))) return 'a TIFF';
  if (head.subarray(4, 8).toString('latin1') === 'ftyp') return 'an AVIF/HEIF';
  if (/^\s*(<\?xml|<svg)/i.test(Buffer.from(bytes.subarray(0, 64)).toString('latin1'))) return 'an SVG';
  return 'not an image format this server reads';
}

export interface PreprocessOptions {
  /** Largest width × height accepted (sharp's limitInputPixels). */
  maxPixels: number;
  /** For messages: which upload this is, e.g. "images[2]". */
  label: string;
}

/**
 * Decodes, orients (EXIF), converts to sRGB, flattens alpha onto the manifest's background,
 * resizes (cover/contain) and returns 8-bit RGB, row-major [H, W, 3].
 *
 * @example
 * const rgb = await preprocessImage(bytes, { size: [64, 64], resize: 'cover' }, { maxPixels: 40e6, label: 'images[0]' });
 */
export async function preprocessImage(bytes: Uint8Array, spec: ImageSpec, opts: PreprocessOptions): Promise<Uint8Array> {
  if (bytes.length === 0) throw new AppError('unprocessable_input', `${opts.label} is empty (0 bytes).`, { details: [{ path: [opts.label], message: 'empty' }] });
  const format = sniffFormat(bytes);
  if (!format) {
    throw new AppError('unsupported_media_type', `${opts.label} is ${describeOther(bytes)}; send PNG, JPEG or WebP.`, { details: [{ path: [opts.label], message: 'accepted: image/png, image/jpeg, image/webp' }] });
  }
  const dims = headerDimensions(bytes, format);
  if (dims && dims.width * dims.height > opts.maxPixels) {
    throw new AppError('payload_too_large', `${opts.label} is ${dims.width}×${dims.height} pixels; the limit is ${opts.maxPixels} pixels.`, { details: [{ path: [opts.label], message: 'too many pixels' }] });
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new AppError('unprocessable_input', `${opts.label} is not a decodable ${format.toUpperCase()} image.`, { details: [{ path: [opts.label], message: 'undecodable' }] });
  }
  if (meta.format !== format && !(format === 'jpeg' && meta.format === 'jpeg')) {
    throw new AppError('unprocessable_input', `${opts.label} looks like ${format.toUpperCase()} but does not decode as one.`);
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > opts.maxPixels) {
    throw new AppError('payload_too_large', `${opts.label} is ${meta.width}×${meta.height} pixels; the limit is ${opts.maxPixels} pixels.`, { details: [{ path: [opts.label], message: 'too many pixels' }] });
  }
  const [h, w] = spec.size;
  const bg = spec.background ?? [255, 255, 255];
  const background = { r: bg[0], g: bg[1], b: bg[2] };
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: opts.maxPixels, failOn: 'error' })
      .rotate() // EXIF orientation
      .toColourspace('srgb')
      .flatten({ background })
      .resize(w, h, { fit: spec.resize, background, position: 'centre' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== w || info.height !== h || info.channels !== 3) throw new Error(`unexpected output ${info.width}x${info.height}x${info.channels}`);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    if ((err as Error).message?.includes('pixel limit')) {
      throw new AppError('payload_too_large', `${opts.label} has more than ${opts.maxPixels} pixels.`);
    }
    throw new AppError('unprocessable_input', `${opts.label} could not be decoded as ${format.toUpperCase()} (truncated or corrupt).`, { details: [{ path: [opts.label], message: 'undecodable' }] });
  }
}

/**
 * Normalises [N][H*W*3] uint8 RGB into `pixel_values [batch=1, maxImages, 3, H, W]` (float32,
 * (x/255 − mean)/std, zero for padding slots) and `image_mask [1, maxImages]`.
 */
export function buildPixelTensors(images: Uint8Array[], size: [number, number], maxImages: number, mean: number[], std: number[]): { pixels: Float32Array; mask: Float32Array } {
  const [h, w] = size;
  const plane = h * w;
  const pixels = new Float32Array(maxImages * 3 * plane);
  const mask = new Float32Array(maxImages);
  images.forEach((rgb, n) => {
    mask[n] = 1;
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * plane;
      const m = mean[c]!;
      const s = std[c]!;
      for (let i = 0; i < plane; i++) pixels[base + i] = (rgb[i * 3 + c]! / 255 - m) / s;
    }
  });
  return { pixels, mask };
}
