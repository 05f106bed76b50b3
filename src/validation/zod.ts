/**
 * zod, extended with `.openapi()` metadata. Every schema that appears in the HTTP contract is
 * built from this export: zod v4 attaches methods when a schema is created, so the extension
 * must run before those schemas exist — importing z from here guarantees the order.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export { z };
