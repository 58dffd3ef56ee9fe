// Anthropic Messages API.
import { postJson, ProviderError, tokenCount, type Completion, type CompletionRequest, type LlmProvider } from './provider.js';

interface Message {
  content?: { type?: unknown; text?: unknown }[];
  usage?: { input_tokens?: unknown; output_tokens?: unknown; cache_read_input_tokens?: unknown; cache_creation_input_tokens?: unknown };
}

export function createAnthropicProvider(options: { apiKey: string; baseUrl?: string; timeoutMs?: number }): LlmProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '');
  return {
    name: 'anthropic',
    async complete(request: CompletionRequest): Promise<Completion> {
      const body = (await postJson(
        'anthropic',
        `${baseUrl}/v1/messages`,
        { 'x-api-key': options.apiKey, 'anthropic-version': '2023-06-01' },
        {
          model: request.model,
          max_tokens: request.maxOutputTokens,
          system: request.system,
          messages: [{ role: 'user', content: request.input }],
        },
        { timeoutMs: options.timeoutMs ?? 120_000, signal: request.signal },
      )) as Message;
      const texts = Array.isArray(body.content) ? body.content.filter((b) => b.type === 'text').map((b) => b.text) : undefined;
      const input = tokenCount(body.usage?.input_tokens);
      const output = tokenCount(body.usage?.output_tokens);
      const cacheRead = tokenCount(body.usage?.cache_read_input_tokens, 0);
      const cacheWrite = tokenCount(body.usage?.cache_creation_input_tokens, 0);
      if (!texts || texts.some((t) => typeof t !== 'string') || [input, output, cacheRead, cacheWrite].some(Number.isNaN)) {
        throw new ProviderError('anthropic', 'anthropic sent a response without text content or token usage', true);
      }
      // input_tokens excludes cache reads and writes; writes are billed as input here.
      return {
        provider: 'anthropic',
        model: request.model,
        output: (texts as string[]).join(''),
        usage: { inputTokens: input + cacheWrite, outputTokens: output, cachedInputTokens: cacheRead },
      };
    },
  };
}
