// OpenAI-compatible chat completions: OpenAI, OpenRouter, Groq, Ollama, vLLM and others speak it.
import { postJson, ProviderError, tokenCount, type Completion, type CompletionRequest, type LlmProvider } from './provider.js';

interface ChatCompletion {
  choices?: { message?: { content?: unknown } }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null };
}

export function createOpenAiProvider(options: { apiKey: string; baseUrl?: string; timeoutMs?: number }): LlmProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return {
    name: 'openai',
    async complete(request: CompletionRequest): Promise<Completion> {
      const body = (await postJson(
        'openai',
        `${baseUrl}/chat/completions`,
        { Authorization: `Bearer ${options.apiKey}` },
        {
          model: request.model,
          max_tokens: request.maxOutputTokens,
          messages: [
            { role: 'system', content: request.system },
            { role: 'user', content: request.input },
          ],
        },
        { timeoutMs: options.timeoutMs ?? 120_000, signal: request.signal },
      )) as ChatCompletion;
      const output = body.choices?.[0]?.message?.content;
      const prompt = tokenCount(body.usage?.prompt_tokens);
      const completion = tokenCount(body.usage?.completion_tokens);
      const cached = tokenCount(body.usage?.prompt_tokens_details?.cached_tokens, 0);
      if (typeof output !== 'string' || [prompt, completion, cached].some(Number.isNaN) || cached > prompt) {
        throw new ProviderError('openai', 'openai sent a response without a message or token usage', true);
      }
      // prompt_tokens includes the cached ones; they are billed apart.
      return {
        provider: 'openai',
        model: request.model,
        output,
        usage: { inputTokens: prompt - cached, outputTokens: completion, cachedInputTokens: cached },
      };
    },
  };
}
