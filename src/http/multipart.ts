/**
 * Streaming multipart/form-data parsing (busboy) with every limit enforced while the bytes
 * arrive: per-file size, request size, file count, field size. Nothing is buffered beyond the
 * limits; a violation stops parsing at once and the rest of the body is discarded.
 */
import type { Request } from 'express';
import busboy from 'busboy';
import { AppError } from '../errors/app-error.js';

export interface UploadedFile {
  field: string;
  filename: string;
  mimeType: string;
  data: Buffer;
}

export interface MultipartLimits {
  maxFileBytes: number;
  maxTotalBytes: number;
  maxFiles: number;
  maxFieldBytes: number;
  maxFields: number;
  /** The only field name file parts may use. */
  fileField: string;
}

export function parseMultipart(req: Request, limits: MultipartLimits): Promise<{ fields: Record<string, string>; files: UploadedFile[] }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: limits.maxFields, fieldSize: limits.maxFieldBytes, parts: limits.maxFiles + limits.maxFields, headerPairs: 50 },
      });
    } catch {
      reject(new AppError('invalid_request', 'The multipart body has no valid boundary.'));
      return;
    }
    const fields: Record<string, string> = {};
    const files: UploadedFile[] = [];
    let total = 0;
    let settled = false;
    const fail = (err: AppError) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      req.resume(); // discard the rest without buffering it, so the answer reaches the client
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limits.maxTotalBytes) fail(new AppError('payload_too_large', `The upload exceeds the limit of ${limits.maxTotalBytes} bytes.`));
    });
    req.on('aborted', () => fail(new AppError('invalid_request', 'The upload was cut off.')));
    bb.on('file', (name, stream, info) => {
      const index = files.length;
      if (name !== limits.fileField) {
        stream.resume();
        fail(new AppError('invalid_request', `Unexpected file field "${name.slice(0, 64)}"; send images as "${limits.fileField}" parts.`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('error', () => fail(new AppError('invalid_request', 'The multipart body is malformed or was cut off.')));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(new AppError('payload_too_large', `${limits.fileField}[${index}] exceeds the limit of ${limits.maxFileBytes} bytes per image.`)));
      stream.on('end', () => {
        if (!settled) files[index] = { field: name, filename: info.filename ?? '', mimeType: info.mimeType, data: Buffer.concat(chunks) };
      });
      files.length = index + 1;
    });
    bb.on('field', (name, value, info) => {
      if (info.nameTruncated) return fail(new AppError('invalid_request', 'A field name is too long.'));
      if (info.valueTruncated) return fail(new AppError('payload_too_large', `Field "${name.slice(0, 64)}" exceeds the limit of ${limits.maxFieldBytes} bytes.`));
      fields[name] = value;
    });
    bb.on('filesLimit', () => fail(new AppError('unprocessable_input', `Too many images: at most ${limits.maxFiles}.`)));
    bb.on('fieldsLimit', () => fail(new AppError('invalid_request', `Too many fields: at most ${limits.maxFields}.`)));
    bb.on('partsLimit', () => fail(new AppError('payload_too_large', 'Too many parts in the multipart body.')));
    bb.on('error', () => fail(new AppError('invalid_request', 'The multipart body is malformed or was cut off.')));
    bb.on('close', () => {
      if (settled) return;
      settled = true;
      resolve({ fields, files: files.filter(Boolean) });
    });
    req.pipe(bb);
  });
}
