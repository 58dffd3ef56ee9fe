// One interface over the LLM providers. The employee's instructions are the system message, the task's
// input the user message; usage comes back normalised (cache reads apart from billed input).

/** Tokens one completion used, as the provider reports them. */
export interface TokenUsage {
  /** Input tokens billed at the input price (cache reads excluded). */
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's cache, billed at the cached-input price. */
  cachedInputTokens: number;
}

export type ProviderName = 'openai' | 'anthropic' | 'offline';

export interface CompletionRequest {
  model: string;
  system: string;
  input: string;
  maxOutputTokens: number;
  /** Aborts the call: a canceled task or a shutting-down worker. */
  signal?: AbortSignal;
}

export interface Completion {
  provider: ProviderName;
  model: string;
  output: string;
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
