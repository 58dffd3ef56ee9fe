// A local server that speaks the OpenAI chat completions and Anthropic Messages APIs, answering from a
// script: ok (text, tool calls or both), an HTTP error, a slow answer or a malformed body. It records what it
// received.
import { createServer, type IncomingMessage, type Server } from 'node:http';
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
}

export type FakeReply =
  OkReply | { kind: 'error'; status: number; message?: string } | { kind: 'slow'; ms: number } | { kind: 'malformed' };

export interface FakeLlm {
  url: string;
  received: { path: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[];
  /** Replies for the next calls, in order; when empty, every call answers ok. */
  script(...replies: FakeReply[]): void;
  /** The most calls it was answering at once since the last script(). */
  peakInFlight(): number;
  close(): Promise<void>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const received: FakeLlm['received'] = [];
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
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const reply = queue.shift() ?? { kind: 'ok' };
      const anthropic = req.url === '/v1/messages';
      const send = (status: number, payload: unknown) =>
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(typeof payload === 'string' ? payload : JSON.stringify(payload));
      if (reply.kind === 'slow') return void setTimeout(() => send(200, okBody(anthropic, body, { kind: 'ok' }, nextCallNumber)), reply.ms);
      if (reply.kind === 'malformed') return void send(200, '{"choices": [');
      if (reply.kind === 'error') {
        return void send(
          reply.status,
          anthropic
            ? { type: 'error', error: { type: 'api_error', message: reply.message ?? 'failure' } }
            : { error: { message: reply.message ?? 'failure', type: 'server_error' } },
        );
      }
      send(200, okBody(anthropic, body, reply, nextCallNumber));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
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

function okBody(anthropic: boolean, request: Record<string, unknown>, reply: OkReply, nextCallNumber: () => number) {
  const toolCalls = reply.toolCalls ?? [];
  const text = reply.text ?? (reply.toolCalls ? undefined : `echo: ${JSON.stringify(request.messages).slice(0, 80)}`);
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
