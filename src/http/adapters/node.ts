// The node:http adapter of the API (under express in `npm start`, tests and the bench): turns an IncomingMessage
// into an HttpRequest for the core and writes its HttpResponse back. The server it runs in bounds how long a
// request may take to arrive, so that a client sending slowly cannot hold a connection (createHttpServer).
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '../../kernel/errors.js';
import type { App } from '../app.js';
import { newRequestId } from '../request.js';
import { errorBody, jsonType } from '../responses.js';
import type { HttpRequest } from '../types.js';

export interface NodeAdapterOptions {
  maxBodyBytes: number;
  /** A body that sends no byte for this long is answered 408; 0 waits as long as the whole request may take. */
  bodyIdleTimeoutMs?: number;
}

/** How long a request may take to arrive, in milliseconds (0: no limit). */
export interface ReceiveTimeouts {
  /** The request line and headers (node:http `headersTimeout`). */
  headersMs: number;
  /** The whole request, headers and body (node:http `requestTimeout`); never less than `headersMs`. */
  requestMs: number;
  /** The longest pause inside a body (the adapter's own timer: node:http has none). */
  bodyIdleMs: number;
}

/**
 * A node:http server for `listener` that answers 408 REQUEST_TIMEOUT, with the error envelope, to a request
 * whose headers or whole self do not arrive in time; a body that pauses too long is the adapter's to answer
 * (NodeAdapterOptions.bodyIdleTimeoutMs).
 */
export function createHttpServer(listener: RequestListener, timeouts: ReceiveTimeouts): Server {
  const shortest = Math.min(...[timeouts.headersMs, timeouts.requestMs].filter((ms) => ms > 0));
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      // node:http looks for late requests every 30 s by default, which would let a 10 s limit run to 40.
      connectionsCheckingInterval: Number.isFinite(shortest) ? Math.max(10, Math.min(1_000, Math.floor(shortest / 4))) : 30_000,
    },
    listener,
  );
  server.on('clientError', answerClientError);
  return server;
}

const receiveTimeoutMessage = 'The request did not arrive in time; nothing of it was done. Send it again, without pauses.';

/**
 * node:http's own answers to a request it could not read (see its socketOnError), except that a request that ran
 * out of time gets the error envelope. Nothing is written once a response has begun on the connection.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // node:http's own check for a response under way: the one it is writing on this socket, if any.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  let head: string;
  let body = '';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const requestId = newRequestId();
    body = JSON.stringify(errorBody(new ApiError('REQUEST_TIMEOUT', receiveTimeoutMessage), requestId));
    head =
      `HTTP/1.1 408 Request Timeout\r\nContent-Type: ${jsonType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n`;
  } else if (error.code === 'HPE_HEADER_OVERFLOW') head = 'HTTP/1.1 431 Request Header Fields Too Large\r\n';
  else if (error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') head = 'HTTP/1.1 413 Payload Too Large\r\n';
  else head = 'HTTP/1.1 400 Bad Request\r\n';
  socket.end(`${head}Connection: close\r\n\r\n${body}`, () => socket.destroy());
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
    body: undefined,
  };
  // GET and DELETE carry no body worth reading unless the client says it sends one.
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
    try {
      request.body = await readBody(req, options.maxBodyBytes + 1, options.bodyIdleTimeoutMs ?? 0);
    } catch (error) {
      if (!(error instanceof BodyStalled)) throw error;
      // The core answers (envelope, CORS, access line); the connection closes, the rest of the body unread.
      const response = await app.handle({ ...request, readError: new ApiError('REQUEST_TIMEOUT', error.message) });
      response.headers.Connection = 'close';
      response.headers['Content-Length'] = String(Buffer.byteLength(response.body));
      res.writeHead(response.status, response.headers).end(response.body);
      return;
    }
  }
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

/** A body that paused longer than the adapter waits. */
class BodyStalled extends Error {}

/**
 * Reads at most `limit` bytes; the core answers 413 when the body reaches the limit, and the rest is drained.
 * Rejects with BodyStalled when no byte comes for `idleMs` (0: no such limit) before the body is read.
 */
function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stalled = () => reject(new BodyStalled(`No byte of the request body came for ${idleMs / 1000} s; nothing of it was done.`));
    const timer = idleMs > 0 ? setTimeout(stalled, idleMs) : undefined;
    // Past the limit the rest still flows (and is dropped), so the connection stays usable for the answer.
    req.on('data', (chunk: Buffer) => {
      if (size >= limit) return;
      timer?.refresh();
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).subarray(0, limit));
      }
    });
    req.once('end', () => {
      clearTimeout(timer);
      if (size < limit) resolve(size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    req.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
