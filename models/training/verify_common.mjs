// Shared by verify_onnx.mjs and verify_img_onnx.mjs: onnxruntime-node from the project's
// node_modules, the model directory + torch reference named on the command line, and the
// ok/FAIL reporting and tolerance helpers.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
export const require = createRequire(import.meta.url);
export const ort = require('../../node_modules/onnxruntime-node');

export const [dir, refPath] = process.argv.slice(2);
export const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
export const ref = JSON.parse(fs.readFileSync(refPath, 'utf8'));
/** Opens a graph of the model directory with 2 intra-op threads. */
export const session = (file) => ort.InferenceSession.create(path.join(dir, file), { intraOpNumThreads: 2, interOpNumThreads: 1 });

let failed = false;
export const check = (name, ok, info) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} ${info ?? ''}`); if (!ok) failed = true; };
export const maxdiff = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
export const maxabs = (a) => { let m = 0; for (const v of a) m = Math.max(m, Math.abs(v)); return m; };
/** Exit status: 1 when any check failed. */
export const done = () => process.exit(failed ? 1 : 0);
