/**
 * The playground page: `GET /playground` (and `/`, redirected there) serves a small static page
 * that uses this server's public API like any client would — with the same keys, limits and
 * error messages. Its files live in `src/playground/static/` and are served as they are (no build
 * step); the page makes no request to any other origin, and its Content-Security-Policy says so.
 */
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

// dist/src/playground/ → src/playground/static/: the files are not compiled, so they are read from the source tree.
const STATIC_DIR = fileURLToPath(new URL('../../../src/playground/static/', import.meta.url));

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * @example
 * app.use(playgroundRoutes()); // before the API's authentication: the page itself is public
 */
export function playgroundRoutes(): Router {
  const r = Router();
  const files = express.static(STATIC_DIR, {
    index: false,
    redirect: false,
    setHeaders: (res) => {
      res.setHeader('Content-Security-Policy', CSP);
      res.setHeader('Cache-Control', 'no-cache');
    },
  });
  r.get('/', (_req, res) => res.redirect(302, '/playground'));
  r.get('/playground', (req, res, next) => {
    req.url = '/index.html';
    files(req, res, next);
  });
  r.use('/playground', files);
  return r;
}
