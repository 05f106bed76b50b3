/**
 * `npm run keys -- create --tenant NAME [--file FILE]` — makes an API key, stores only its
 * SHA-256 in the keys file (default: API_KEYS_FILE, else DATA_DIR/api-keys) and prints the key
 * once. `npm run keys -- list [--file FILE]` lists tenants and key fingerprints.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createApiKey, readKeysFile } from '../auth/api-keys.js';
import { loadConfig } from '../config/config.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { tenant: { type: 'string' }, file: { type: 'string' } } });
const config = loadConfig();
const file = values.file ?? (config.apiKeysFile || path.join(config.dataDir, 'api-keys'));
try {
  if (positionals[0] === 'create') {
    if (!values.tenant) throw new Error('create needs --tenant NAME');
    const key = createApiKey(file, values.tenant);
    process.stdout.write(`${key}\n`);
    process.stderr.write(`Stored sha256 of the key for tenant "${values.tenant}" in ${file}. This is the only time the key is shown.\n`);
    if (!config.apiKeysFile) process.stderr.write(`Start the server with API_KEYS_FILE=${file} to use it.\n`);
  } else if (positionals[0] === 'list') {
    for (const k of readKeysFile(file)) process.stdout.write(`${k.tenant}\t${k.hash.toString('hex').slice(0, 12)}…\n`);
  } else {
    throw new Error('usage: npm run keys -- create --tenant NAME [--file FILE] | list [--file FILE]');
  }
} catch (err) {
  process.stderr.write(`keys: ${(err as Error).message}\n`);
  process.exit(2);
}
