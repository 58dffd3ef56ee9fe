// The express 5 host of `npm start` (and of the tests and the bench): express serves the pages that exist only on
// a running server (the docs page, with express's own ETag and 304 handling, and the redirect of `/` to it), and
// the API goes to the core through the node:http adapter. The API is dispatched beside express by default:
// `npm run bench` measures express's router in front of every API request (`api: 'mounted'`) against it.
import type { RequestListener } from 'node:http';
import express from 'express';
import type { App } from '../app.js';
import type { LocalAuth } from '../../services/local-auth.js';
import { docsContentSecurityPolicy } from '../responses.js';
import { createRequestListener } from './node.js';

export interface WebServerOptions {
  maxBodyBytes: number;
  /** An API request whose body pauses this long is answered 408 (0 or absent: no such limit). */
  bodyIdleTimeoutMs?: number;
  /** Returns the Redoc HTML served at /docs, or undefined while it is not built. */
  docsHtml: () => Promise<string | undefined>;
  /** `beside` (default): API requests skip express; `mounted`: express's router sees every request first. */
  api?: 'beside' | 'mounted';
  /** Supabase Auth's sign-in endpoints under /auth/v1, for local users (`npm start` on the embedded database). */
  localAuth?: LocalAuth;
}

const localAuthPrefix = '/auth/v1/';

/** The pages express serves; every other request is the API's (which answers unknown paths with its 404). */
const pages = new Set(['/', '/docs', '/docs/']);

export function createWebServer(app: App, options: WebServerOptions): RequestListener {
  const api = createRequestListener(app, { maxBodyBytes: options.maxBodyBytes, bodyIdleTimeoutMs: options.bodyIdleTimeoutMs });
  const web = express();
  web.disable('x-powered-by');
  // Strong tags: the page is one exact representation.
  web.set('etag', 'strong');
  web.get('/', (_req, res) => res.redirect(302, '/docs'));
  // The docs page's policy, computed once per page built.
  let policy: { html: string; value: string } | undefined;
  web.get(['/docs', '/docs/'], (_req, res, next) => {
    options
      .docsHtml()
      .then((html) => {
        if (!html) {
          res.status(503).type('text/plain').send('The docs are not built yet: run `npm run docs`.');
          return;
        }
        if (policy?.html !== html) policy = { html, value: docsContentSecurityPolicy(html) };
        res.set({
          'Cache-Control': 'public, max-age=300',
          'X-Content-Type-Options': 'nosniff',
          'Referrer-Policy': 'no-referrer',
          'Content-Security-Policy': policy.value,
        });
        // express answers 304 itself when If-None-Match names the page's ETag.
        res.type('html').send(html);
      })
      .catch(next);
  });
  const { localAuth } = options;
  if (localAuth) {
    // supabase-js calls from the app's page: any origin may (no cookies; the tokens travel in bodies and headers).
    web.use('/auth/v1', (req, res, next) => {
      res.set({
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Headers': 'authorization, apikey, content-type, x-client-info, x-supabase-api-version',
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Cache-Control': 'no-store',
      });
      if (req.method === 'OPTIONS') res.status(204).end();
      else next();
    });
    web.use('/auth/v1', express.json({ limit: '16kb' }), (req, res, next) => {
      const queryAt = req.url.indexOf('?');
      const headers = { authorization: req.get('authorization') };
      localAuth
        .handle(
          req.method,
          queryAt === -1 ? req.url : req.url.slice(0, queryAt),
          queryAt === -1 ? '' : req.url.slice(queryAt + 1),
          headers,
          req.body,
        )
        .then((answer) => (answer.body === undefined ? res.status(answer.status).end() : res.status(answer.status).json(answer.body)))
        .catch(next);
    });
    // A body that is not JSON: GoTrue's own answer to it.
    web.use('/auth/v1', (error: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
      if ((error as { type?: string }).type === 'entity.parse.failed' || (error as { type?: string }).type === 'entity.too.large') {
        res.status(400).json({ code: 400, error_code: 'bad_json', msg: 'Could not parse request body as JSON' });
      } else next(error);
    });
  }
  if (options.api === 'mounted') {
    web.use((req, res) => api(req, res));
    return web;
  }
  return (req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const page =
      ((req.method === 'GET' || req.method === 'HEAD') && pages.has(path)) || (localAuth !== undefined && path.startsWith(localAuthPrefix));
    if (page) web(req, res);
    else api(req, res);
  };
}
