import { Router } from 'express';
import { AppError } from '../../errors/app-error.js';
import type { LoadedModel, ModelRegistry } from '../../models/model-registry.js';
import { contextOf } from '../../models/model-view.js';

export function modelsRoutes(registry: ModelRegistry, maxContextTokens = Number.MAX_SAFE_INTEGER): Router {
  const r = Router();
  // The server's MAX_CONTEXT_TOKENS may lower a chunked model's own limit.
  const view = (m: LoadedModel) => (m.manifest.chunking ? { ...m.view, context: contextOf(m.manifest, maxContextTokens) } : m.view);
  r.get('/v1/models', (_req, res) => {
    res.json({ object: 'list', data: registry.list().map(view) });
  });
  r.get('/v1/models/:id', (req, res) => {
    const m = registry.get(req.params.id);
    if (!m) throw new AppError('not_found', `No model named "${req.params.id.slice(0, 128)}".`);
    res.json(view(m));
  });
  return r;
}
