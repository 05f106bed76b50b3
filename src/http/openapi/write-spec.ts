/** `npm run spec`: regenerates api-spec/openapi.json from the code. */
import { writeFileSync } from 'node:fs';
import { buildSpec } from './build-spec.js';

const out = process.argv[2] ?? 'api-spec/openapi.json';
writeFileSync(out, JSON.stringify(buildSpec(), null, 2) + '\n');
console.log(`wrote ${out}`);
