// The SDK's Server-Sent Events reader against the interpretation rules of the HTML standard, fed in chunks cut
// anywhere (inside a CRLF, inside a UTF-8 character).
import { describe, expect, it } from 'vitest';
import { readServerSentEvents, type ServerSentEvent } from '../../sdk/src/sse.js';

async function read(chunks: (string | Uint8Array)[]): Promise<{ messages: ServerSentEvent[]; retries: number[] }> {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
      controller.close();
    },
  });
  const messages: ServerSentEvent[] = [];
  const retries: number[] = [];
  for await (const message of readServerSentEvents(body, (ms) => retries.push(ms))) messages.push(message);
  return { messages, retries };
}

/** Every way of cutting `text` in two. */
const cuts = (text: string) => Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);

describe('readServerSentEvents', () => {
  it('reads id, event and data, and joins several data lines with a newline', async () => {
    const { messages } = await read(['id: 7\nevent: task.running\ndata: {"a":1,\ndata: "b":2}\n\n']);
    expect(messages).toEqual([{ lastEventId: '7', event: 'task.running', data: '{"a":1,\n"b":2}' }]);
  });

  it('accepts CRLF, LF and CR line ends, however the chunks fall', async () => {
    const text = 'id: 1\r\nevent: a\r\ndata: x\r\n\r\nid: 2\revent: b\rdata: y\r\rid: 3\nevent: c\ndata: z\n\n';
    const expected = [
      { lastEventId: '1', event: 'a', data: 'x' },
      { lastEventId: '2', event: 'b', data: 'y' },
      { lastEventId: '3', event: 'c', data: 'z' },
    ];
    for (const chunks of cuts(text)) expect((await read(chunks)).messages).toEqual(expected);
    expect((await read(text.split(''))).messages).toEqual(expected);
  });

  it('ignores comments (heartbeats), unknown fields and an id holding NUL; keeps the last id for later messages', async () => {
    const { messages, retries } = await read([
      ': keep-alive\n\nretry: 2000\n\nid: 5\ndata: one\n\n: keep-alive\nfoo: bar\ndata: two\n\nid: 6\0\ndata: three\n\n',
    ]);
    expect(messages).toEqual([
      { lastEventId: '5', event: 'message', data: 'one' },
      { lastEventId: '5', event: 'message', data: 'two' },
      { lastEventId: '5', event: 'message', data: 'three' },
    ]);
    expect(retries).toEqual([2000]);
  });

  it('strips one space after the colon only, and reads a field without a colon as empty', async () => {
    const { messages } = await read(['data:no space\ndata:  two spaces\ndata\n\n']);
    expect(messages).toEqual([{ lastEventId: undefined, event: 'message', data: 'no space\n two spaces\n' }]);
  });

  it('dispatches nothing for a block without data, and drops a message the stream ends in the middle of', async () => {
    const { messages } = await read(['event: lonely\n\nid: 9\ndata: complete\n\ndata: cut short\n']);
    expect(messages).toEqual([{ lastEventId: '9', event: 'message', data: 'complete' }]);
  });

  it('decodes UTF-8 split across chunks and skips a byte order mark', async () => {
    const bytes = new TextEncoder().encode('\uFEFFdata: é✓\n\n');
    for (let i = 0; i <= bytes.length; i++) {
      expect((await read([bytes.slice(0, i), bytes.slice(i)])).messages).toEqual([
        { lastEventId: undefined, event: 'message', data: 'é✓' },
      ]);
    }
  });
});
