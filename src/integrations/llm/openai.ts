// OpenAI-compatible chat completions: OpenAI, OpenRouter, Groq, Ollama, vLLM and others speak it.
import {
  postJson,
  ProviderError,
  tokenCount,
  toolCallInput,
  toolCallInputFromJson,
  type ChatMessage,
  type Completion,
  type CompletionRequest,
  type LlmProvider,
  type ToolCall,
} from './provider.js';

interface ChatCompletion {
  choices?: { message?: { content?: unknown; tool_calls?: unknown } }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null };
}

interface FunctionCall {
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

function toOpenAiMessage(message: ChatMessage) {
  switch (message.role) {
    case 'user':
      return { role: 'user', content: message.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content || null,
        ...(message.toolCalls.length > 0
          ? {
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: JSON.stringify(call.input) },
              })),
            }
          : {}),
      };
    case 'tool':
      // The protocol has no error flag for a result; the model reads it from the text.
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.isError ? `Error: ${message.content}` : message.content };
  }
}

/** The calls of a response; undefined when they are not in the protocol's shape. */
function readToolCalls(raw: unknown): ToolCall[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return undefined;
  const calls: ToolCall[] = [];
  for (const call of raw as (FunctionCall | null)[]) {
    const id = call?.id;
    const name = call?.function?.name;
    const args = call?.function?.arguments;
    if (typeof id !== 'string' || typeof name !== 'string') return undefined;
    // Some compatible servers send '' for a tool without parameters, or the object itself instead of its JSON.
    const input = args === '' ? { input: {} } : typeof args === 'string' ? toolCallInputFromJson(args) : toolCallInput(args);
    calls.push({ id, name, ...input });
  }
  return calls;
}

export function createOpenAiProvider(options: { apiKey: string; baseUrl?: string; timeoutMs?: number }): LlmProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return {
    name: 'openai',
    async complete(request: CompletionRequest): Promise<Completion> {
      const tools = request.tools ?? [];
      const body = (await postJson(
        'openai',
        `${baseUrl}/chat/completions`,
        { Authorization: `Bearer ${options.apiKey}` },
        {
          model: request.model,
          max_tokens: request.maxOutputTokens,
          messages: [{ role: 'system', content: request.system }, ...request.messages.map(toOpenAiMessage)],
          ...(tools.length > 0
            ? {
                tools: tools.map((tool) => ({
                  type: 'function',
                  function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
                })),
              }
            : {}),
        },
        { timeoutMs: options.timeoutMs ?? 120_000, signal: request.signal },
      )) as ChatCompletion;
      const message = body.choices?.[0]?.message;
      const content = message?.content;
      const toolCalls = readToolCalls(message?.tool_calls);
      const prompt = tokenCount(body.usage?.prompt_tokens);
      const completion = tokenCount(body.usage?.completion_tokens);
      const cached = tokenCount(body.usage?.prompt_tokens_details?.cached_tokens, 0);
      if (!toolCalls) throw new ProviderError('openai', 'openai sent tool calls without an id or a name', true);
      if ((typeof content !== 'string' && toolCalls.length === 0) || [prompt, completion, cached].some(Number.isNaN) || cached > prompt) {
        throw new ProviderError('openai', 'openai sent a response without a message or token usage', true);
      }
      // prompt_tokens includes the cached ones; they are billed apart.
      return {
        provider: 'openai',
        model: request.model,
        // content is null when the model only called tools.
        output: typeof content === 'string' ? content : '',
        toolCalls,
        usage: { inputTokens: prompt - cached, outputTokens: completion, cachedInputTokens: cached },
      };
    },
  };
}
