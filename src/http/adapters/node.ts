// The node:http adapter of the API (under express in `npm start`, tests and the bench): turns an IncomingMessage
// into an HttpRequest for the core and writes its HttpResponse back.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { App } from '../app.js';
import type { HttpRequest } from '../types.js';

export interface NodeAdapterOptions {
  maxBodyBytes: number;
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
