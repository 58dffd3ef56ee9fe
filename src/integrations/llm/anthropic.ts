// Anthropic Messages API.
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
  type ToolCall,
} from './provider.js';

interface Usage {
  input_tokens?: unknown;
  output_tokens?: unknown;
  cache_read_input_tokens?: unknown;
  cache_creation_input_tokens?: unknown;
}

/** One event of the stream; `type` says which fields it has. */
interface StreamEvent {
  type?: unknown;
  index?: unknown;
  message?: { usage?: Usage | null } | null;
  content_block?: { type?: unknown; text?: unknown; id?: unknown; name?: unknown; input?: unknown } | null;
  delta?: { type?: unknown; text?: unknown; partial_json?: unknown } | null;
  usage?: Usage | null;
  error?: { type?: unknown; message?: unknown } | null;
}

/** A content block as its pieces arrive; other kinds (thinking and the like) are skipped, as they were whole. */
type StreamedBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: unknown; name: unknown; input: unknown; json: string };

const usageFields = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

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
      const progress = new StreamedSoFar();
      const events = requestEventStream(
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
          stream: true,
        },
        { timeoutMs: options.timeoutMs ?? 120_000, signal: request.signal, progress },
      );
      const blocks = new Map<number, StreamedBlock>();
      const usage: Usage = {};
      let stopped = false;
      const broken = () => new ProviderError('anthropic', "anthropic sent a stream that is not in the protocol's shape", true);
      for await (const event of events) {
        const data = eventJson('anthropic', event) as StreamEvent;
        const type = data.type ?? event.event;
        if (type === 'message_start' || type === 'message_delta') {
          // message_start has the input counts, message_delta the final output count (and, lately, all of them again).
          const counts = type === 'message_start' ? data.message?.usage : data.usage;
          for (const field of usageFields) if (counts?.[field] !== undefined && counts[field] !== null) usage[field] = counts[field];
          // The counts so far, for a call that ends early (cache writes billed as input, as below).
          progress.reported({
            inputTokens: tokenCount(usage.input_tokens) + tokenCount(usage.cache_creation_input_tokens, 0),
            cachedInputTokens: tokenCount(usage.cache_read_input_tokens, 0),
            outputTokens: tokenCount(counts?.output_tokens),
          });
        } else if (type === 'content_block_start') {
          const block = data.content_block;
          if (typeof data.index !== 'number') throw broken();
          if (block?.type === 'text') {
            const text = typeof block.text === 'string' ? block.text : '';
            blocks.set(data.index, { type: 'text', text });
            progress.streamed(text, 'text');
            if (text) request.onDelta?.(text);
          } else if (block?.type === 'tool_use') {
            blocks.set(data.index, { type: 'tool_use', id: block.id, name: block.name, input: block.input, json: '' });
          }
        } else if (type === 'content_block_delta') {
          const block = typeof data.index === 'number' ? blocks.get(data.index) : undefined;
          const delta = data.delta;
          if (delta?.type === 'text_delta') {
            if (block?.type !== 'text' || typeof delta.text !== 'string') throw broken();
            block.text += delta.text;
            progress.streamed(delta.text, 'text');
            if (delta.text) request.onDelta?.(delta.text);
          } else if (delta?.type === 'input_json_delta') {
            if (block?.type !== 'tool_use' || typeof delta.partial_json !== 'string') throw broken();
            block.json += delta.partial_json;
            progress.streamed(delta.partial_json, 'tool');
          }
        } else if (type === 'error') {
          const kind = typeof data.error?.type === 'string' ? data.error.type : 'error';
          throw new ProviderError(
            'anthropic',
            `anthropic failed mid-answer: ${kind}: ${sanitizeProviderMessage(data.error?.message)}`,
            kind === 'overloaded_error' || kind === 'api_error',
          );
        } else if (type === 'message_stop') {
          stopped = true;
          break;
        }
        // ping, content_block_stop and event types added later need nothing.
      }
      const ordered = [...blocks.entries()].sort(([a], [b]) => a - b).map(([, block]) => block);
      const input = tokenCount(usage.input_tokens);
      const output = tokenCount(usage.output_tokens);
      const cacheRead = tokenCount(usage.cache_read_input_tokens, 0);
      const cacheWrite = tokenCount(usage.cache_creation_input_tokens, 0);
      if (!stopped) throw new ProviderError('anthropic', 'anthropic ended its stream before the end of the answer', true);
      if ([input, output, cacheRead, cacheWrite].some(Number.isNaN)) {
        throw new ProviderError('anthropic', 'anthropic sent a response without text content or token usage', true);
      }
      const toolUses = ordered.filter((b) => b.type === 'tool_use');
      if (toolUses.some((b) => typeof b.id !== 'string' || typeof b.name !== 'string')) {
        throw new ProviderError('anthropic', 'anthropic sent a tool call without an id or a name', true);
      }
      // Without input pieces the input is the one the block started with ({} for a tool without parameters).
      const toolCalls: ToolCall[] = toolUses.map((b) => ({
        id: b.id as string,
        name: b.name as string,
        ...(b.json ? toolCallInputFromJson(b.json) : toolCallInput(b.input ?? {})),
      }));
      // input_tokens excludes cache reads and writes; writes are billed as input here.
      return {
        provider: 'anthropic',
        model: request.model,
        output: ordered.map((b) => (b.type === 'text' ? b.text : '')).join(''),
        toolCalls,
        usage: { inputTokens: input + cacheWrite, outputTokens: output, cachedInputTokens: cacheRead },
      };
    },
  };
}
