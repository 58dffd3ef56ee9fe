// The node:http adapter (`npm start`, tests, the bench): turns an IncomingMessage into an HttpRequest for
// the core and writes its HttpResponse back. It also serves the docs page and redirects `/` to it.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { App } from '../app.js';
import { entityTag } from '../../kernel/etag.js';
import { docsContentSecurityPolicy, notModified } from '../responses.js';
import type { HttpRequest } from '../types.js';

export interface NodeAdapterOptions {
  maxBodyBytes: number;
  /** Returns the Redoc HTML served at /docs, or undefined while it is not built. */
  docsHtml: () => Promise<string | undefined>;
}

export function createRequestListener(app: App, options: NodeAdapterOptions): RequestListener {
  return (req, res) => {
    serve(app, options, req, res).catch((error: unknown) => {
      // Only a broken connection gets here (the core answers every error itself): drop it.
      res.destroy(error instanceof Error ? error : undefined);
    });
  };
}

async function serve(app: App, options: NodeAdapterOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (req.method === 'GET' && (path === '/docs' || path === '/docs/' || path === '/')) {
    await serveDocs(path, options, req, res);
    return;
  }
  const request: HttpRequest = {
    method: req.method ?? 'GET',
    path,
    query: queryAt === -1 ? '' : url.slice(queryAt + 1),
    headers: req.headers,
    clientAddress: req.socket.remoteAddress,
    // GET and DELETE carry no body worth reading unless the client says it sends one.
    body:
      req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined
        ? undefined
        : await readBody(req, options.maxBodyBytes + 1),
  };
  const response = await app.handle(request);
  if (response.stream) {
    await writeStream(response.stream, response, req, res);
    return;
  }
  if (response.status === 204 || response.status === 304) {
    res.writeHead(response.status, response.headers).end();
    return;
  }
  // A known length lets node:http send the head and the body in one write instead of chunks.
  response.headers['Content-Length'] = String(Buffer.byteLength(response.body));
  res.writeHead(response.status, response.headers);
  res.end(req.method === 'HEAD' ? undefined : response.body);
}

/** Writes each chunk as it comes (no Content-Length); stops the stream when the client goes away. */
async function writeStream(
  stream: AsyncIterable<string>,
  response: { status: number; headers: Record<string, string> },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const chunks = stream[Symbol.asyncIterator]();
  const stop = () => void chunks.return?.();
  res.once('close', stop);
  res.writeHead(response.status, response.headers);
  res.flushHeaders();
  if (req.method === 'HEAD') {
    stop();
    res.end();
    return;
  }
  try {
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      if (res.destroyed) break;
      res.write(next.value);
    }
  } finally {
    res.off('close', stop);
    stop();
    res.end();
  }
}

// The docs page's tag and policy, computed once per page built.
let docsTag: { html: string; etag: string; policy: string } | undefined;

async function serveDocs(path: string, options: NodeAdapterOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (path === '/') {
    res.writeHead(302, { Location: '/docs', 'Content-Type': 'text/plain; charset=utf-8' }).end('Found. Redirecting to /docs');
    return;
  }
  const html = await options.docsHtml();
  if (!html) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end('The docs are not built yet: run `npm run docs`.');
    return;
  }
  if (docsTag?.html !== html) docsTag = { html, etag: entityTag(html), policy: docsContentSecurityPolicy(html) };
  const headers = {
    ETag: docsTag.etag,
    'Cache-Control': 'public, max-age=300',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': docsTag.policy,
  };
  if (notModified(req.headers['if-none-match'], docsTag.etag)) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }).end(html);
}

/** Reads at most `limit` bytes; the core answers 413 when the body reaches the limit, and the rest is drained. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest still flows (and is dropped), so the connection stays usable for the answer.
    req.on('data', (chunk: Buffer) => {
      if (size >= limit) return;
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) resolve(Buffer.concat(chunks).subarray(0, limit));
    });
    req.once('end', () => {
      if (size < limit) resolve(size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    req.once('error', reject);
  });
}
