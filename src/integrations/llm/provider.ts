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

/**
 * A failed call. `transient` ones (429, 5xx, timeouts, broken responses) are retried with backoff;
 * the others fail the task with `message`, which never carries the request, the key or raw bodies.
 */
export class ProviderError extends Error {
  constructor(
    readonly provider: ProviderName,
    message: string,
    readonly transient: boolean,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}

/** A provider's own error text, shortened and with anything that looks like a credential removed. */
function sanitizeProviderMessage(text: unknown): string {
  const message = typeof text === 'string' ? text : 'no message';
  return message
    .replace(/\b(sk|pk|rk|key)[-_][A-Za-z0-9_-]{8,}/g, '[redacted]')
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** POSTs JSON with a timeout; maps network failures, timeouts and non-2xx answers to ProviderError. */
export async function postJson(
  provider: ProviderName,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<unknown> {
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
  } catch (error) {
    if (options.signal?.aborted) throw new ProviderError(provider, `${provider} call aborted`, false, undefined, { cause: error });
    const timedOut = (error as Error).name === 'TimeoutError';
    throw new ProviderError(
      provider,
      timedOut ? `${provider} did not answer within ${options.timeoutMs} ms` : `${provider} could not be reached`,
      true,
      undefined,
      { cause: error },
    );
  }
  const text = await response.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const detail = (parsed as { error?: { message?: unknown } } | undefined)?.error?.message;
    const transient = response.status === 408 || response.status === 409 || response.status === 429 || response.status >= 500;
    throw new ProviderError(
      provider,
      `${provider} answered ${response.status}: ${sanitizeProviderMessage(detail ?? response.statusText)}`,
      transient,
      response.status,
    );
  }
  if (parsed === undefined) throw new ProviderError(provider, `${provider} sent a response that is not JSON`, true, response.status);
  return parsed;
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
