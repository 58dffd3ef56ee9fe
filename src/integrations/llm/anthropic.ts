// Anthropic Messages API.
import {
  postJson,
  ProviderError,
  tokenCount,
  toolCallInput,
  type ChatMessage,
  type Completion,
  type CompletionRequest,
  type LlmProvider,
  type ToolCall,
} from './provider.js';

interface Message {
  content?: { type?: unknown; text?: unknown; id?: unknown; name?: unknown; input?: unknown }[];
  usage?: { input_tokens?: unknown; output_tokens?: unknown; cache_read_input_tokens?: unknown; cache_creation_input_tokens?: unknown };
}

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error: boolean };

type AnthropicMessage = { role: 'user'; content: string | ContentBlock[] } | { role: 'assistant'; content: ContentBlock[] };

/**
 * The transcript in the API's shape. Roles must alternate, so the results of one step go back as one user
 * message, and a user message right after them joins it as text.
 */
function toAnthropicMessages(messages: ChatMessage[]): AnthropicMessage[] {
  const converted: AnthropicMessage[] = [];
  let results: ContentBlock[] | undefined;
  for (const message of messages) {
    if (message.role === 'tool') {
      const block: ContentBlock = {
        type: 'tool_result',
        tool_use_id: message.toolCallId,
        content: message.content,
        is_error: message.isError,
      };
      if (results) results.push(block);
      else converted.push({ role: 'user', content: (results = [block]) });
    } else if (message.role === 'user') {
      if (results) results.push({ type: 'text', text: message.content });
      else converted.push({ role: 'user', content: message.content });
    } else {
      results = undefined;
      converted.push({
        role: 'assistant',
        content: [
          ...(message.content ? [{ type: 'text' as const, text: message.content }] : []),
          ...message.toolCalls.map((call) => ({ type: 'tool_use' as const, id: call.id, name: call.name, input: call.input })),
        ],
      });
    }
  }
  return converted;
}

export function createAnthropicProvider(options: { apiKey: string; baseUrl?: string; timeoutMs?: number }): LlmProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '');
  return {
    name: 'anthropic',
    async complete(request: CompletionRequest): Promise<Completion> {
      const tools = request.tools ?? [];
      const body = (await postJson(
        'anthropic',
        `${baseUrl}/v1/messages`,
        { 'x-api-key': options.apiKey, 'anthropic-version': '2023-06-01' },
        {
          model: request.model,
          max_tokens: request.maxOutputTokens,
          system: request.system,
          messages: toAnthropicMessages(request.messages),
          ...(tools.length > 0
            ? { tools: tools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: tool.inputSchema })) }
            : {}),
        },
        { timeoutMs: options.timeoutMs ?? 120_000, signal: request.signal },
      )) as Message;
      const blocks = Array.isArray(body.content) ? body.content : undefined;
      const texts = blocks?.filter((b) => b?.type === 'text').map((b) => b.text);
      const toolUses = blocks?.filter((b) => b?.type === 'tool_use') ?? [];
      const input = tokenCount(body.usage?.input_tokens);
      const output = tokenCount(body.usage?.output_tokens);
      const cacheRead = tokenCount(body.usage?.cache_read_input_tokens, 0);
      const cacheWrite = tokenCount(body.usage?.cache_creation_input_tokens, 0);
      if (!texts || texts.some((t) => typeof t !== 'string') || [input, output, cacheRead, cacheWrite].some(Number.isNaN)) {
        throw new ProviderError('anthropic', 'anthropic sent a response without text content or token usage', true);
      }
      if (toolUses.some((b) => typeof b.id !== 'string' || typeof b.name !== 'string')) {
        throw new ProviderError('anthropic', 'anthropic sent a tool call without an id or a name', true);
      }
      const toolCalls: ToolCall[] = toolUses.map((b) => ({ id: b.id as string, name: b.name as string, ...toolCallInput(b.input) }));
      // input_tokens excludes cache reads and writes; writes are billed as input here.
      return {
        provider: 'anthropic',
        model: request.model,
        output: (texts as string[]).join(''),
        toolCalls,
        usage: { inputTokens: input + cacheWrite, outputTokens: output, cachedInputTokens: cacheRead },
      };
    },
  };
}
