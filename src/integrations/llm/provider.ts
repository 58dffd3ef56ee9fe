// One interface over the LLM providers. The employee's instructions are the system message, the task's
// transcript the messages, its tools those offered; usage comes back normalised (cache reads apart from billed
// input) and tool calls in one shape.

/** Tokens one completion used, as the provider reports them. */
export interface TokenUsage {
  /** Input tokens billed at the input price (cache reads excluded). */
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's cache, billed at the cached-input price. */
  cachedInputTokens: number;
}

export type ProviderName = 'openai' | 'anthropic' | 'offline';

/** A tool offered to the model: its name, what it does and the JSON Schema of its input. */
export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** A call the model made: its id (the provider's), the tool and the parsed input. */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
  /** Set when the provider sent arguments that are not a JSON object; `input` is then `{}`. */
  inputError?: string;
}

/**
 * The conversation so far, oldest first. `user` is the task's input (or a continuation's); `assistant` is what
 * the model said in a step, with the tools it called; `tool` answers one of those calls.
 */
export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string; isError: boolean };

export interface CompletionRequest {
  model: string;
  system: string;
  messages: ChatMessage[];
  /** Offered to the model; absent or empty, it is offered none. */
  tools?: ToolSpec[];
  maxOutputTokens: number;
  /** Aborts the call: a canceled task or a shutting-down worker. */
  signal?: AbortSignal;
  /** Called with each piece of the model's text as it arrives; the pieces join to the Completion's `output`. */
  onDelta?: (text: string) => void;
}

export interface Completion {
  provider: ProviderName;
  model: string;
  /** The model's text ('' when it only called tools). */
  output: string;
  /** The tools it called, in order; several at once when it called them in parallel. */
  toolCalls: ToolCall[];
  usage: TokenUsage;
}

export interface LlmProvider {
  readonly name: ProviderName;
  complete(request: CompletionRequest): Promise<Completion>;
}

/** What a streamed call had consumed when it ended early (an abort, a deadline): attached to its ProviderError. */
export interface PartialCompletion {
  /** The provider accepted the request (its 2xx response headers arrived), so it had the prompt. */
  accepted: boolean;
  /** The model's text that streamed, as passed to onDelta. */
  output: string;
  /** UTF-8 bytes of all the model's output that streamed: its text and the pieces of its tool calls. */
  outputBytes: number;
  /** Counts the provider reported, normalised as TokenUsage; `outputTokens` only if reported after the last piece. */
  usage: Partial<TokenUsage>;
}

/** Follows a streamed call as it goes, so that one ended early can say what it consumed. */
export class StreamedSoFar implements PartialCompletion {
  accepted = false;
  output = '';
  outputBytes = 0;
  usage: Partial<TokenUsage> = {};

  /** A piece of the model's output arrived: an output count reported before it no longer covers everything. */
  streamed(piece: string, kind: 'text' | 'tool'): void {
    if (!piece) return;
    if (kind === 'text') this.output += piece;
    this.outputBytes += Buffer.byteLength(piece);
    delete this.usage.outputTokens;
  }

  /** Counts the provider reported mid-stream; those that are not non-negative integers are ignored. */
  reported(counts: Partial<TokenUsage>): void {
    for (const [name, value] of Object.entries(counts) as [keyof TokenUsage, number | undefined][]) {
      if (value !== undefined && Number.isSafeInteger(value) && value >= 0) this.usage[name] = value;
    }
  }
}

/**
 * A failed call. `transient` ones (429, 5xx, timeouts, broken responses) are retried with backoff;
 * the others fail the task with `message`, which never carries the request, the key or raw bodies.
 */
export class ProviderError extends Error {
  /** The call's own deadline passed (the adapter's timeout over the whole call). */
  readonly timedOut: boolean;
  /** What a streamed call had consumed before it failed or was aborted. */
  partial?: PartialCompletion;

  constructor(
    readonly provider: ProviderName,
    message: string,
    readonly transient: boolean,
    readonly status?: number,
    options?: { cause?: unknown; timedOut?: boolean },
  ) {
    super(message, options);
    this.name = 'ProviderError';
    this.timedOut = options?.timedOut ?? false;
  }
}

/** A provider's own error text, shortened and with anything that looks like a credential removed. */
export function sanitizeProviderMessage(text: unknown): string {
  const message = typeof text === 'string' ? text : 'no message';
  return message
    .replace(/\b(sk|pk|rk|key)[-_][A-Za-z0-9_-]{8,}/g, '[redacted]')
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** A non-2xx answer as a ProviderError: 408, 409, 429 and 5xx are transient. */
async function httpError(provider: ProviderName, response: Response): Promise<ProviderError> {
  const text = await response.text().catch(() => '');
  let detail: unknown;
  try {
    detail = (JSON.parse(text) as { error?: { message?: unknown } } | null)?.error?.message;
  } catch {
    detail = undefined;
  }
  const transient = response.status === 408 || response.status === 409 || response.status === 429 || response.status >= 500;
  return new ProviderError(
    provider,
    `${provider} answered ${response.status}: ${sanitizeProviderMessage(detail ?? response.statusText)}`,
    transient,
    response.status,
  );
}

/** One server-sent event: its `event` field ('message' when it has none) and its data lines joined. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/** Cuts decoded text into server-sent events as it arrives (fields, comments, CR, LF or CRLF line ends). */
function serverSentEventParser(): (text: string) => ServerSentEvent[] {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  const lineEnd = /\r\n|\r|\n/g;
  return (text) => {
    buffer += text;
    const events: ServerSentEvent[] = [];
    let start = 0;
    lineEnd.lastIndex = 0;
    for (let match = lineEnd.exec(buffer); match; match = lineEnd.exec(buffer)) {
      // A CR that ends the text may be the first half of a CRLF.
      if (match[0] === '\r' && match.index === buffer.length - 1) break;
      const line = buffer.slice(start, match.index);
      start = lineEnd.lastIndex;
      if (line === '') {
        if (data.length > 0) events.push({ event: event || 'message', data: data.join('\n') });
        event = '';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
      }
    }
    buffer = buffer.slice(start);
    return events;
  };
}

/**
 * POSTs JSON asking for a streamed answer and yields its server-sent events as they arrive. Network failures,
 * timeouts (over the whole call), non-2xx answers, an answer that is not an event stream and a stream that breaks
 * become ProviderError; the caller's abort ends the reading at once, even between events already received.
 */
export async function* requestEventStream(
  provider: ProviderName,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  options: { timeoutMs: number; signal?: AbortSignal; progress?: StreamedSoFar },
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  // An abort or a deadline ends the call here: the error says what the call had consumed by then.
  const transportError = (error: unknown, started: boolean): ProviderError => {
    const message = options.signal?.aborted
      ? `${provider} call aborted`
      : deadline.aborted
        ? `${provider} did not ${started ? 'finish its answer' : 'answer'} within ${options.timeoutMs} ms`
        : started
          ? `${provider} broke off its answer`
          : `${provider} could not be reached`;
    const failure = new ProviderError(provider, message, !options.signal?.aborted, undefined, {
      cause: error,
      timedOut: !options.signal?.aborted && deadline.aborted,
    });
    failure.partial = options.progress;
    return failure;
  };
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.any([deadline, ...(options.signal ? [options.signal] : [])]),
    });
  } catch (error) {
    throw transportError(error, false);
  }
  if (!response.ok) throw await httpError(provider, response);
  if (!response.body || !/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) {
    await response.body?.cancel().catch(() => undefined);
    throw new ProviderError(provider, `${provider} sent a response that is not an event stream`, true, response.status);
  }
  if (options.progress) options.progress.accepted = true;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parse = serverSentEventParser();
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw transportError(error, true);
      }
      // An event cut off by the end of the stream is dropped, as the format says; the adapters then miss its end.
      if (chunk.done) return;
      for (const event of parse(decoder.decode(chunk.value, { stream: true }))) {
        if (options.signal?.aborted) throw transportError(options.signal.reason, true);
        yield event;
      }
    }
  } finally {
    // Ends the download when the reading stops early: the answer's end, a broken event or the caller's abort.
    await reader.cancel().catch(() => undefined);
  }
}

/** An event's data as a JSON object; anything else is a broken stream. */
export function eventJson(provider: ProviderName, event: ServerSentEvent): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(event.data);
  } catch {
    value = undefined;
  }
  if (!isJsonObject(value)) throw new ProviderError(provider, `${provider} sent a stream event that is not a JSON object`, true);
  return value;
}

/** A token count from a provider's JSON: a non-negative integer, `absent` when missing, else NaN. */
export function tokenCount(value: unknown, absent = NaN): number {
  if (value === undefined || value === null) return absent;
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : NaN;
}

const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const jsonKind = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;

/** A tool call's input as the provider sent it: a JSON object, else `{}` with why, in words the model can act on. */
export function toolCallInput(value: unknown): Pick<ToolCall, 'input' | 'inputError'> {
  if (isJsonObject(value)) return { input: value };
  return { input: {}, inputError: `The tool input must be a JSON object, not ${jsonKind(value)}.` };
}

/** The same from arguments sent as JSON text; a broken text is quoted only by its beginning. */
export function toolCallInputFromJson(text: string): Pick<ToolCall, 'input' | 'inputError'> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const preview = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    return { input: {}, inputError: `The tool input is not valid JSON (it begins ${JSON.stringify(preview)}); send a JSON object.` };
  }
  return toolCallInput(value);
}
