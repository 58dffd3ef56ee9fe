// A client that sends slowly cannot hold a connection: its headers, a pause inside its body and the whole request
// are bounded (tiny limits here; 10 s, 5 s and 30 s by default), and a request past one is answered 408
// REQUEST_TIMEOUT with the error envelope where an answer is still possible, then the connection closes.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

const limits = { headersMs: 400, requestMs: 1_500, bodyIdleMs: 300 };
let server: TestServer;
let port: number;

beforeAll(async () => {
  // The health check waits for this "database" longer than a request may take to arrive.
  server = await startTestServer({ receiveTimeouts: limits, pingDatabase: () => new Promise((resolve) => setTimeout(resolve, 2_000)) });
  port = Number(new URL(server.baseUrl).port);
});
afterAll(() => server.close());

interface Exchange {
  /** Everything the server sent before it closed the connection. */
  received: string;
  status?: number;
  headers: Record<string, string>;
  body: string;
}

/** Opens a raw connection, lets `send` write to it as slowly as it likes, and waits for the server to close it. */
function exchange(send: (socket: Socket) => void): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {}); // a reset is a close too
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1];
      resolve({ received, status: status ? Number(status) : undefined, headers, body });
    });
    socket.on('connect', () => send(socket));
  });
}

/** Writes `text` one character every `everyMs`, for as long as the connection is open. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return clearInterval(timer);
    socket.write(text[at++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

const body = JSON.stringify({ name: 'A slow organization' });
const head = (extra = '') =>
  `POST /v1/organizations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${extra}\r\n`;

function expectTimeoutEnvelope(answer: Exchange): void {
  expect(answer.status, answer.received).toBe(408);
  expect(answer.headers.connection).toBe('close');
  expect(answer.headers['content-type']).toContain('application/json');
  const envelope = JSON.parse(answer.body) as { success: boolean; error: { code: string; message: string; requestId: string } };
  expect(envelope).toMatchObject({ success: false, error: { code: 'REQUEST_TIMEOUT' } });
  expect(envelope.error.requestId).toBe(answer.headers['x-request-id']);
}

describe('slow requests', () => {
  it('answers 408 to a body that pauses longer than the idle limit, and closes the connection', { timeout: 15_000 }, async () => {
    // One byte every 600 ms: each pause is twice the 300 ms limit.
    const answer = await exchange((socket) => {
      socket.write(head('Origin: https://app.example.com\r\n'));
      trickle(socket, body, 600);
    });
    expectTimeoutEnvelope(answer);
    expect(JSON.parse(answer.body).error.message).toMatch(/No byte of the request body came for 0\.3 s/);
    // The core answered it: CORS and the other headers of every answer are there.
    expect(answer.headers['access-control-allow-origin']).toBe('*');
    expect(answer.headers['cache-control']).toBe('no-store');
  });

  it('answers 408 to a body that never pauses long but takes longer than the whole request may', { timeout: 15_000 }, async () => {
    // A byte every 100 ms (under the 300 ms idle limit): the 40-byte body would take 4 s of the 1.5 s allowed.
    const answer = await exchange((socket) => {
      socket.write(head());
      trickle(socket, body, 100);
    });
    expectTimeoutEnvelope(answer);
  });

  it('answers 408 to headers that never finish, or closes the connection', { timeout: 15_000 }, async () => {
    const answer = await exchange((socket) => trickle(socket, `${head('X-Padding: ')}${'x'.repeat(1_000)}`, 50));
    if (answer.status !== undefined) expectTimeoutEnvelope(answer);
    expect(answer.received).not.toContain('201');
  });

  it('reads a body that arrives in pieces with short pauses as usual', { timeout: 15_000 }, async () => {
    const answer = await exchange((socket) => {
      socket.write(head('Connection: close\r\n'));
      const pieces = [body.slice(0, 10), body.slice(10, 20), body.slice(20)];
      pieces.forEach((piece, i) => setTimeout(() => socket.write(piece), 100 * (i + 1)));
    });
    // Read, routed and refused for the missing credentials: the body did not time out.
    expect(answer.status, answer.received).toBe(401);
  });

  it('lets a request that arrived in time take longer than that to be answered', { timeout: 15_000 }, async () => {
    const response = await fetch(`${server.baseUrl}/v1/health`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: { database: { status: string } } }).data.database.status).toBe('ok');
  });
});
