import { Router } from 'express';
import { AppError } from '../../errors/app-error.js';
import type { ModelRegistry } from '../../models/model-registry.js';

export function modelsRoutes(registry: ModelRegistry): Router {
  const r = Router();
  r.get('/v1/models', (_req, res) => {
    res.json({ object: 'list', data: registry.list().map((m) => m.view) });
  });
  r.get('/v1/models/:id', (req, res) => {
    const m = registry.get(req.params.id);
    if (!m) throw new AppError('not_found', `No model named "${req.params.id.slice(0, 128)}".`);
    res.json(m.view);
  });
  return r;
}
