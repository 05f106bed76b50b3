/**
 * Validates real responses against the committed OpenAPI 3.1 document. OpenAPI 3.1 schemas are
 * JSON Schema 2020-12, so ajv (its 2020 dialect) validates them as they are, $refs included.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { REPO_ROOT } from './test-service.js';

export const SPEC_FILE = path.join(REPO_ROOT, 'api-spec/openapi.json');
const spec = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as any;
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ $id: 'spec', components: spec.components });

const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Throws unless `body` matches the spec's schema for this operation and status. */
export function assertConforms(method: string, route: string, status: number, body: unknown, contentType = 'application/json'): void {
  const op = spec.paths?.[route]?.[method.toLowerCase()];
  if (!op) throw new Error(`the spec has no ${method} ${route}`);
  const response = op.responses?.[String(status)];
  if (!response) throw new Error(`the spec has no ${status} for ${method} ${route}`);
  const schema = response.content?.[contentType]?.schema;
  if (!schema) {
    if (body !== undefined && body !== '') throw new Error(`the spec declares no ${contentType} body for ${status} ${method} ${route}`);
    return;
  }
  // Resolve component refs against the spec document.
  const rewritten = JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"spec#/components/'));
  const key = `${method} ${pointer(route)} ${status}`;
  let validate = ajv.getSchema(key);
  if (!validate) {
    ajv.addSchema(rewritten, key);
    validate = ajv.getSchema(key)!;
  }
  if (!validate(body)) throw new Error(`${method} ${route} ${status} does not match the spec: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
}

/** Throws unless a delivered webhook body matches the spec's `webhooks.<event>` request schema. */
export function assertWebhookConforms(event: string, body: unknown): void {
  const schema = spec.webhooks?.[event]?.post?.requestBody?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`the spec has no webhook ${event}`);
  const key = `webhook ${event}`;
  let validate = ajv.getSchema(key);
  if (!validate) {
    ajv.addSchema(JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"spec#/components/')), key);
    validate = ajv.getSchema(key)!;
  }
  if (!validate(body)) throw new Error(`webhook ${event} does not match the spec: ${ajv.errorsText(validate.errors)}`);
}
