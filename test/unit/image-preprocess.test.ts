import sharp from 'sharp';
import { headerDimensions, preprocessImage, sniffFormat } from '../../src/conditioning/image-preprocess.js';
import { AppError } from '../../src/errors/app-error.js';

const opts = { maxPixels: 10_000_000, label: 'images[0]' };
const px = (rgb: Uint8Array, w: number, x: number, y: number) => Array.from(rgb.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));

describe('image preprocessing (real decoding with sharp)', () => {
  it('applies EXIF orientation before resizing', async () => {
    // 40×20: left half red, right half blue; EXIF 6 = rotate 90° clockwise → top red, bottom blue.
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) raw.set(x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
    const jpeg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const out = await preprocessImage(jpeg, { size: [16, 16], resize: 'contain' }, opts);
    const top = px(out, 16, 8, 5);
    const bottom = px(out, 16, 8, 10);
    expect(top[0]!).toBeGreaterThan(200);
    expect(top[2]!).toBeLessThan(60);
    expect(bottom[2]!).toBeGreaterThan(200);
    expect(bottom[0]!).toBeLessThan(60);
  });

  it('flattens transparency onto the manifest background', async () => {
    const rgba = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    expect(px(await preprocessImage(rgba, { size: [4, 4], resize: 'cover' }, opts), 4, 1, 1)).toEqual([255, 255, 255]);
    expect(px(await preprocessImage(rgba, { size: [4, 4], resize: 'cover', background: [0, 128, 0] }, opts), 4, 1, 1)).toEqual([0, 128, 0]);
  });

  it('letterboxes with contain and crops with cover', async () => {
    const wide = await sharp({ create: { width: 40, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
    const contain = await preprocessImage(wide, { size: [20, 20], resize: 'contain' }, opts);
    const cover = await preprocessImage(wide, { size: [20, 20], resize: 'cover' }, opts);
    expect(px(contain, 20, 10, 0)).toEqual([255, 255, 255]); // padding band
    expect(px(cover, 20, 10, 0)).toEqual([255, 0, 0]);
    expect(contain.length).toBe(20 * 20 * 3);
  });

  it('converts grayscale and 16-bit images to 8-bit sRGB', async () => {
    const gray = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 100, g: 100, b: 100 } } }).toColourspace('b-w').png().toBuffer();
    const deep = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 10, g: 200, b: 30 } } }).toColourspace('rgb16').png().toBuffer();
    expect(px(await preprocessImage(gray, { size: [2, 2], resize: 'cover' }, opts), 2, 0, 0)).toEqual([100, 100, 100]);
    const d = px(await preprocessImage(deep, { size: [2, 2], resize: 'cover' }, opts), 2, 0, 0);
    d.forEach((v, i) => expect(Math.abs(v - [10, 200, 30][i]!)).toBeLessThanOrEqual(1));
  });

  it('reads dimensions from headers without decoding', async () => {
    for (const [fmt, buf] of [
      ['png', await sharp({ create: { width: 33, height: 17, channels: 3, background: 'red' } }).png().toBuffer()],
      ['jpeg', await sharp({ create: { width: 33, height: 17, channels: 3, background: 'red' } }).jpeg().toBuffer()],
      ['webp', await sharp({ create: { width: 33, height: 17, channels: 3, background: 'red' } }).webp().toBuffer()],
      ['webp', await sharp({ create: { width: 33, height: 17, channels: 3, background: 'red' } }).webp({ lossless: true }).toBuffer()],
    ] as const) {
      expect(sniffFormat(buf)).toBe(fmt);
      expect(headerDimensions(buf, fmt)).toEqual({ width: 33, height: 17 });
    }
  });

  it('refuses a type it does not read, naming the accepted ones', async () => {
    const tiff = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).tiff().toBuffer();
    await expect(preprocessImage(tiff, { size: [2, 2], resize: 'cover' }, opts)).rejects.toMatchObject({ status: 415, message: expect.stringMatching(/a TIFF; send PNG, JPEG or WebP/) });
    await expect(preprocessImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), { size: [2, 2], resize: 'cover' }, opts)).rejects.toBeInstanceOf(AppError);
  });
});
