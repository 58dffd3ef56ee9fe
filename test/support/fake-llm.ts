// A local server that speaks the OpenAI chat completions and Anthropic Messages APIs, answering from a
// script: ok (text, tool calls or both, at once or a word at a time), an HTTP error, a slow answer, a malformed
// or broken one. Requests with `stream: true` get each protocol's event stream, the others its JSON. It records
// what it received, and how far each stream got before it ended.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A call the fake makes: `input` is sent as is (so a non-object tests the adapter's check); `arguments`, OpenAI only,
 * replaces the JSON text of the arguments, to send a broken one. Without `id`, `call_fake_<n>` / `toolu_fake_<n>`.
 */
export interface FakeToolCall {
  id?: string;
  name: string;
  input: unknown;
  arguments?: string;
}

interface OkReply {
  kind: 'ok';
  /** Without it: an echo of the messages, or no text when the reply calls tools. */
  text?: string;
  toolCalls?: FakeToolCall[];
  usage?: { input: number; output: number; cached?: number };
  /** Streamed: waits this long halfway through the stream, after the first pieces of text. */
  stallMs?: number;
  /** Answers a streaming request with the whole JSON body anyway, as a server that ignores `stream` would. */
  unstreamed?: boolean;
  /** Streamed: one word per event, this long apart (a model writing slowly). */
  everyMs?: number;
  /** Streamed: the response headers at once, the first event only after this long. */
  firstAfterMs?: number;
  /**
   * Streamed, OpenAI-compatible: the usage on the last chunk (`end`, as `include_usage` asks), on every chunk too
   * (`every-chunk`, counting one token per word so far, as vLLM's continuous usage stats do) or nowhere (`never`,
   * as servers that ignore `stream_options`). Anthropic's stream always reports input in message_start.
   */
  usageReport?: 'end' | 'every-chunk' | 'never';
}

/** How far one streamed answer got: `closedEarly` when the client went away before its last event. */
export interface FakeStream {
  protocol: 'openai' | 'anthropic';
  events: number;
  sent: number;
  closedEarly: boolean;
  /** Resolves when the connection has closed, either way. */
  closed: Promise<void>;
}

export type FakeReply =
  | OkReply
  | { kind: 'error'; status: number; message?: string }
  /** Waits `ms` before the first byte, then answers ok. */
  | { kind: 'slow'; ms: number }
  /** A body that is not JSON; streamed, a few good events and then one whose data is cut off. */
  | { kind: 'malformed' }
  /** The first half of an ok answer, then the socket is destroyed (or, `cleanEnd`, the response just ends). */
  | { kind: 'broken'; cleanEnd?: boolean }
  /** Streamed: starts an ok answer, then reports an error inside the stream (Anthropic's `error` event). */
  | { kind: 'failing'; type: string; message?: string };

export interface FakeLlm {
  url: string;
  received: { path: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[];
  /** Each streamed answer, in the order they started. */
  streams: FakeStream[];
  /** Replies for the next calls, in order; when empty, every call answers ok. */
  script(...replies: FakeReply[]): void;
  /** The most calls it was answering at once since the last script(). */
  peakInFlight(): number;
  close(): Promise<void>;
}

/** Waits `ms`, or less when the client goes away first. */
function pause(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });
}

/** Writes each frame in two halves a moment apart, so events and characters arrive cut across reads. */
async function writeFrames(res: ServerResponse, frames: string[]): Promise<void> {
  for (const frame of frames) {
    const bytes = Buffer.from(frame);
    for (const part of [bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1)]) {
      if (res.destroyed) return;
      await new Promise<void>((resolve) => res.write(part, () => resolve()));
      await pause(res, 1);
    }
  }
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const received: FakeLlm['received'] = [];
  const streams: FakeStream[] = [];
  let queue: FakeReply[] = [];
  let inFlight = 0;
  let peak = 0;
  // Numbers the calls without an id, so ids stay unique across the steps of a conversation.
  let calls = 0;
  const nextCallNumber = () => ++calls;
  const server: Server = createServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.once('close', () => inFlight--);
    res.on('error', () => undefined);
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const reply = queue.shift() ?? { kind: 'ok' };
      void answer(res, req.url === '/v1/messages', body, reply, nextCallNumber, streams);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    streams,
    script: (...replies) => {
      queue = replies;
      peak = inFlight;
    },
    peakInFlight: () => peak,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  res: ServerResponse,
  anthropic: boolean,
  request: Record<string, unknown>,
  reply: FakeReply,
  nextCallNumber: () => number,
  streams: FakeStream[],
) {
  const send = (status: number, payload: unknown) =>
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(typeof payload === 'string' ? payload : JSON.stringify(payload));
  if (reply.kind === 'error') {
    return send(
      reply.status,
      anthropic
        ? { type: 'error', error: { type: 'api_error', message: reply.message ?? 'failure' } }
        : { error: { message: reply.message ?? 'failure', type: 'server_error' } },
    );
  }
  if (reply.kind === 'slow') {
    await pause(res, reply.ms);
    if (res.destroyed) return;
  }
  const ok: OkReply = reply.kind === 'ok' ? reply : { kind: 'ok' };
  if (request.stream !== true || ok.unstreamed) {
    if (reply.kind === 'malformed') return send(200, '{"choices": [');
    if (reply.kind === 'failing') return send(500, { error: { type: reply.type, message: reply.message ?? 'failure' } });
    if (reply.kind !== 'broken') return send(200, okBody(anthropic, request, ok, nextCallNumber));
    const whole = JSON.stringify(okBody(anthropic, request, ok, nextCallNumber));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(whole)) });
    await writeFrames(res, [whole.slice(0, whole.length >> 1)]);
    return void res.destroy();
  }

  const frames = anthropic ? anthropicEvents(request, ok, nextCallNumber) : openAiChunks(request, ok, nextCallNumber);
  const half = frames.length >> 1;
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  if (reply.kind === 'ok' && (reply.everyMs !== undefined || reply.firstAfterMs !== undefined)) {
    const stream: FakeStream = {
      protocol: anthropic ? 'anthropic' : 'openai',
      events: frames.length,
      sent: 0,
      closedEarly: false,
      closed: Promise.resolve(),
    };
    stream.closed = new Promise((resolve) =>
      res.once('close', () => {
        stream.closedEarly = !res.writableFinished;
        resolve();
      }),
    );
    streams.push(stream);
    res.flushHeaders();
    await pause(res, reply.firstAfterMs ?? 0);
    for (const frame of frames) {
      if (res.destroyed) return;
      await writeFrames(res, [frame]);
      if (res.destroyed) return;
      stream.sent++;
      await pause(res, reply.everyMs ?? 0);
    }
    return void res.end();
  }
  if (reply.kind === 'slow' || (reply.kind === 'ok' && !reply.stallMs)) {
    await writeFrames(res, frames);
    return void res.end();
  }
  await writeFrames(res, frames.slice(0, half));
  if (reply.kind === 'ok') {
    await pause(res, reply.stallMs!);
    await writeFrames(res, frames.slice(half));
  } else if (reply.kind === 'malformed') {
    await writeFrames(res, [anthropic ? 'event: content_block_delta\ndata: {"type": "content_bl\n\n' : 'data: {"choices": [\n\n']);
  } else if (reply.kind === 'failing') {
    const error = { type: reply.type, message: reply.message ?? 'failure' };
    await writeFrames(res, [anthropic ? sseEvent('error', { type: 'error', error }) : `data: ${JSON.stringify({ error })}\n\n`]);
  } else if (!reply.cleanEnd) {
    return void res.destroy();
  }
  res.end();
}

const sseEvent = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

/** A text a word at a time (each with the spaces after it), as a slow model's text arrives. */
function wordsOf(text: string): string[] {
  return text.match(/\s*\S+\s*/gy) ?? [];
}

/** A text in three pieces or so (whole characters), as a model's text or a call's arguments arrive. */
function piecesOf(text: string): string[] {
  const characters = Array.from(text);
  const size = Math.max(1, Math.ceil(characters.length / 3));
  const pieces: string[] = [];
  for (let i = 0; i < characters.length; i += size) pieces.push(characters.slice(i, i + size).join(''));
  return pieces;
}

function replyText(request: Record<string, unknown>, reply: OkReply): string | undefined {
  return reply.text ?? (reply.toolCalls ? undefined : `echo: ${JSON.stringify(request.messages).slice(0, 80)}`);
}

/** The `chat.completion.chunk` events of an ok answer, then the usage chunk and `[DONE]`. */
function openAiChunks(request: Record<string, unknown>, reply: OkReply, nextCallNumber: () => number): string[] {
  const toolCalls = reply.toolCalls ?? [];
  const text = replyText(request, reply);
  const usage = reply.usage ?? { input: 42, output: 7, cached: 0 };
  const usageSoFar = (output: number) => ({
    prompt_tokens: usage.input + (usage.cached ?? 0),
    completion_tokens: output,
    total_tokens: usage.input + (usage.cached ?? 0) + output,
    prompt_tokens_details: { cached_tokens: usage.cached ?? 0 },
  });
  let words = 0;
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: request.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    usage: reply.usageReport === 'every-chunk' ? usageSoFar(typeof delta.content === 'string' && delta.content ? ++words : words) : null,
  });
  const chunks: unknown[] = [
    chunk({ role: 'assistant', content: text === undefined ? null : '' }),
    ...(reply.everyMs !== undefined ? wordsOf : piecesOf)(text ?? '').map((piece) => chunk({ content: piece })),
    ...toolCalls.flatMap((call, index) => [
      chunk({
        tool_calls: [
          { index, id: call.id ?? `call_fake_${nextCallNumber()}`, type: 'function', function: { name: call.name, arguments: '' } },
        ],
      }),
      ...piecesOf(call.arguments ?? JSON.stringify(call.input)).map((piece) =>
        chunk({ tool_calls: [{ index, function: { arguments: piece } }] }),
      ),
    ]),
    chunk({}, toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    ...(reply.usageReport === 'never'
      ? []
      : [
          {
            id: 'chatcmpl-fake',
            object: 'chat.completion.chunk',
            created: 1_700_000_000,
            model: request.model,
            choices: [],
            usage: usageSoFar(usage.output),
          },
        ]),
  ];
  return [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
}

/** The Messages stream of an ok answer: message_start, a ping, the blocks in pieces, message_delta, message_stop. */
function anthropicEvents(request: Record<string, unknown>, reply: OkReply, nextCallNumber: () => number): string[] {
  const toolCalls = reply.toolCalls ?? [];
  const text = replyText(request, reply);
  const usage = reply.usage ?? { input: 42, output: 7, cached: 0 };
  const blocks = [
    ...(text !== undefined
      ? [
          [
            { type: 'content_block_start', content_block: { type: 'text', text: '' } },
            ...(reply.everyMs !== undefined ? wordsOf : piecesOf)(text).map((piece) => ({
              type: 'content_block_delta',
              delta: { type: 'text_delta', text: piece },
            })),
          ],
        ]
      : []),
    ...toolCalls.map((call) => [
      {
        type: 'content_block_start',
        content_block: { type: 'tool_use', id: call.id ?? `toolu_fake_${nextCallNumber()}`, name: call.name, input: {} },
      },
      ...piecesOf(JSON.stringify(call.input)).map((piece) => ({
        type: 'content_block_delta',
        delta: { type: 'input_json_delta', partial_json: piece },
      })),
    ]),
  ];
  const events: Record<string, unknown>[] = [
    {
      type: 'message_start',
      message: {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model: request.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input, cache_read_input_tokens: usage.cached ?? 0, cache_creation_input_tokens: 0, output_tokens: 1 },
      },
    },
    { type: 'ping' },
    ...blocks.flatMap((events, index) => [...events.map((event) => ({ ...event, index })), { type: 'content_block_stop', index }]),
    {
      type: 'message_delta',
      delta: { stop_reason: toolCalls.length > 0 ? 'tool_use' : 'end_turn', stop_sequence: null },
      usage: { output_tokens: usage.output },
    },
    { type: 'message_stop' },
  ];
  return events.map((event) => sseEvent(event.type as string, event));
}

function okBody(anthropic: boolean, request: Record<string, unknown>, reply: OkReply, nextCallNumber: () => number) {
  const toolCalls = reply.toolCalls ?? [];
  const text = replyText(request, reply);
  const usage = reply.usage ?? { input: 42, output: 7, cached: 0 };
  return anthropic
    ? {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model: request.model,
        content: [
          ...(text !== undefined ? [{ type: 'text', text }] : []),
          ...toolCalls.map((call) => ({
            type: 'tool_use',
            id: call.id ?? `toolu_fake_${nextCallNumber()}`,
            name: call.name,
            input: call.input,
          })),
        ],
        stop_reason: toolCalls.length > 0 ? 'tool_use' : 'end_turn',
        usage: { input_tokens: usage.input, output_tokens: usage.output, cache_read_input_tokens: usage.cached ?? 0 },
      }
    : {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        model: request.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: text ?? null,
              ...(toolCalls.length > 0
                ? {
                    tool_calls: toolCalls.map((call) => ({
                      id: call.id ?? `call_fake_${nextCallNumber()}`,
                      type: 'function',
                      function: { name: call.name, arguments: call.arguments ?? JSON.stringify(call.input) },
                    })),
                  }
                : {}),
            },
            finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
          },
        ],
        usage: {
          prompt_tokens: usage.input + (usage.cached ?? 0),
          completion_tokens: usage.output,
          total_tokens: usage.input + (usage.cached ?? 0) + usage.output,
          prompt_tokens_details: { cached_tokens: usage.cached ?? 0 },
        },
      };
}
