// OpenAI-compatible chat completions: OpenAI, OpenRouter, Groq, Ollama, vLLM and others speak it.
import {
  eventJson,
  ProviderError,
  requestEventStream,
  sanitizeProviderMessage,
  StreamedSoFar,
  tokenCount,
  toolCallInput,
  toolCallInputFromJson,
  type ChatMessage,
  type Completion,
  type CompletionRequest,
  type LlmProvider,
  type TokenUsage,
  type ToolCall,
} from './provider.js';

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown } | null;
}

/** One `chat.completion.chunk`; the last one, asked for by `include_usage`, has the usage and no choices. */
interface ChatCompletionChunk {
  choices?: { delta?: { content?: unknown; tool_calls?: unknown } | null }[] | null;
  usage?: Usage | null;
  /** Some compatible servers report a failure inside the stream. */
  error?: { message?: unknown } | null;
}

interface FunctionCall {
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

/** A piece of a call: `index` says which; id and name come first, the arguments' JSON text in pieces after. */
interface FunctionCallDelta extends FunctionCall {
  index?: unknown;
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

/** A usage object in TokenUsage's terms: prompt_tokens includes the cached ones, which are billed apart. */
function normalisedUsage(usage: Usage): Partial<TokenUsage> {
  const prompt = tokenCount(usage.prompt_tokens);
  const cached = tokenCount(usage.prompt_tokens_details?.cached_tokens, 0);
  return {
    ...(cached <= prompt ? { inputTokens: prompt - cached, cachedInputTokens: cached } : {}),
    outputTokens: tokenCount(usage.completion_tokens),
  };
}

/** Adds a chunk's pieces of tool calls to those so far, by index; false when they are not in the protocol's shape. */
function addToolCallDeltas(calls: Map<number, FunctionCall>, raw: unknown, progress: StreamedSoFar): boolean {
  if (raw === undefined || raw === null) return true;
  if (!Array.isArray(raw)) return false;
  for (const delta of raw as (FunctionCallDelta | null)[]) {
    // Servers that send each call whole may leave out the index: a new id starts a call, else it continues the last.
    const index =
      typeof delta?.index === 'number'
        ? delta.index
        : typeof delta?.id === 'string' && ![...calls.values()].some((call) => call.id === delta.id)
          ? calls.size
          : Math.max(0, calls.size - 1);
    const call = calls.get(index) ?? { function: { arguments: '' } };
    calls.set(index, call);
    const fn = call.function!;
    if (call.id === undefined && delta?.id !== undefined && delta.id !== null) call.id = delta.id;
    if (fn.name === undefined && delta?.function?.name !== undefined && delta.function.name !== null) fn.name = delta.function.name;
    const piece = delta?.function?.arguments;
    // Some compatible servers send the object itself instead of its JSON.
    if (typeof piece === 'string') fn.arguments = typeof fn.arguments === 'string' ? fn.arguments + piece : piece;
    else if (piece !== undefined && piece !== null) fn.arguments = piece;
    progress.streamed(typeof piece === 'string' ? piece : piece ? JSON.stringify(piece) : '', 'tool');
  }
  return true;
}

export function createOpenAiProvider(options: { apiKey: string; baseUrl?: string; timeoutMs?: number }): LlmProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return {
    name: 'openai',
    async complete(request: CompletionRequest): Promise<Completion> {
      const tools = request.tools ?? [];
      const progress = new StreamedSoFar();
      const events = requestEventStream(
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
          stream: true,
          stream_options: { include_usage: true },
        },
        { timeoutMs: options.timeoutMs ?? 120_000, signal: request.signal, progress },
      );
      // content stays undefined when the model only called tools (it sends null then).
      let content: string | undefined;
      const calls = new Map<number, FunctionCall>();
      let usage: Usage | undefined;
      for await (const event of events) {
        if (event.data === '[DONE]') break;
        const chunk = eventJson('openai', event) as ChatCompletionChunk;
        if (chunk.error)
          throw new ProviderError('openai', `openai failed mid-answer: ${sanitizeProviderMessage(chunk.error.message)}`, true);
        const delta = Array.isArray(chunk.choices) ? chunk.choices[0]?.delta : undefined;
        if (typeof delta?.content === 'string') {
          content = (content ?? '') + delta.content;
          progress.streamed(delta.content, 'text');
          if (delta.content) request.onDelta?.(delta.content);
        }
        if (!addToolCallDeltas(calls, delta?.tool_calls, progress)) {
          throw new ProviderError('openai', 'openai sent tool calls without an id or a name', true);
        }
        // The last chunk has the usage; some servers send it with every chunk too, counting that chunk's pieces.
        if (chunk.usage) {
          usage = chunk.usage;
          progress.reported(normalisedUsage(chunk.usage));
        }
      }
      const toolCalls = readToolCalls([...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call));
      const prompt = tokenCount(usage?.prompt_tokens);
      const completion = tokenCount(usage?.completion_tokens);
      const cached = tokenCount(usage?.prompt_tokens_details?.cached_tokens, 0);
      if (!toolCalls) throw new ProviderError('openai', 'openai sent tool calls without an id or a name', true);
      if ((content === undefined && toolCalls.length === 0) || [prompt, completion, cached].some(Number.isNaN) || cached > prompt) {
        throw new ProviderError('openai', 'openai sent a response without a message or token usage', true);
      }
      // prompt_tokens includes the cached ones; they are billed apart.
      return {
        provider: 'openai',
        model: request.model,
        output: content ?? '',
        toolCalls,
        usage: { inputTokens: prompt - cached, outputTokens: completion, cachedInputTokens: cached },
      };
    },
  };
}
