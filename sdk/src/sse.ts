// A Server-Sent Events reader, as the HTML standard's "event stream interpretation" says: lines end with
// CRLF, LF or CR; `:` starts a comment (a heartbeat); a blank line dispatches the message; several `data`
// lines join with a newline; an `id` holding NUL is ignored; a stream that ends mid-message drops it.

export interface ServerSentEvent {
  /** The last event id the stream set, as of this message. */
  lastEventId: string | undefined;
  /** `event:`, or `message` when absent. */
  event: string;
  data: string;
}

/** The messages of an event stream body; `onRetry` gets each `retry:` reconnection time, in milliseconds. */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  onRetry?: (milliseconds: number) => void,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let event = '';
  let lastEventId: string | undefined;

  /** Interprets one line; returns a message when the line is blank and a message is pending. */
  function interpret(line: string): ServerSentEvent | undefined {
    if (line === '') {
      const message = data.length ? { lastEventId, event: event || 'message', data: data.join('\n') } : undefined;
      data = [];
      event = '';
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry?.(Number(value));
    return undefined;
  }

  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const end = buffer.search(/[\r\n]/);
        if (end === -1) break;
        // A CR at the end of what has arrived may be the first half of a CRLF: wait for the next chunk.
        if (buffer[end] === '\r' && end === buffer.length - 1 && !done) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer[end] === '\r' && buffer[end + 1] === '\n' ? end + 2 : end + 1);
        const message = interpret(line);
        if (message) yield message;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
