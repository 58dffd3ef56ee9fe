// The express adapter: turns requests into HttpRequest for the core and writes its HttpResponse back.
import express, { type Request, type Response } from 'express';
import type { App } from './app.js';
import type { HttpRequest } from './types.js';

export interface ExpressOptions {
  maxBodyBytes: number;
  /** Returns the Redoc HTML served at /docs, or undefined while it is not built. */
  docsHtml: () => Promise<string | undefined>;
}

export function createExpressApp(app: App, options: ExpressOptions): express.Express {
  const server = express();
  server.disable('x-powered-by');
  server.set('etag', false);

  server.get(['/docs', '/docs/'], async (_req, res) => {
    const html = await options.docsHtml();
    if (!html) {
      res.status(503).type('text/plain').send('The docs are not built yet: run `npm run docs`.');
      return;
    }
    res.type('html').send(html);
  });
  server.get('/', (_req, res) => res.redirect(302, '/docs'));

  server.use(async (req: Request, res: Response) => {
    const url = new URL(req.originalUrl, 'http://localhost');
    const request: HttpRequest = {
      method: req.method,
      path: url.pathname,
      query: url.search.slice(1),
      headers: req.headers,
      body: await readBody(req, options.maxBodyBytes + 1),
    };
    const response = await app.handle(request);
    res.status(response.status).set(response.headers).end(response.body);
  });
  return server;
}

/** Reads at most `limit` bytes; the core answers 413 when the body reaches the limit, and the rest is drained. */
function readBody(req: Request, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) {
        req.off('data', onData);
        req.resume();
        resolve(Buffer.concat(chunks).subarray(0, limit));
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve(size === 0 ? undefined : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
