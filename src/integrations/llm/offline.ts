// The zero-configuration provider: no model, no network. Deterministic output that says what it is, so
// nobody mistakes it for a model's answer, with usage estimated at four bytes a token. It calls tools on request
// (a line `@<Tool> <argument>` in the last user message) so the whole tool loop runs without a model.
import { createHash } from 'node:crypto';
import type { ChatMessage, Completion, CompletionRequest, LlmProvider, ToolCall, ToolSpec } from './provider.js';

const tokensOf = (text: string): number => Math.ceil(Buffer.byteLength(text, 'utf8') / 4);

const directive = /^@(\S+)[ \t]+(\S.*)$/;

/** A tool result is quoted up to this many characters. */
const resultLimit = 4_000;

/** The name of the first required string property of a tool's input, which a plain-text argument fills. */
function textProperty(tool: ToolSpec): string | undefined {
  const { required, properties } = tool.inputSchema as { required?: unknown; properties?: Record<string, { type?: unknown } | undefined> };
  if (!Array.isArray(required)) return undefined;
  return required.find((name): name is string => {
    const type = typeof name === 'string' ? properties?.[name]?.type : undefined;
    return type === 'string' || (Array.isArray(type) && type.includes('string'));
  });
}

function toolCallOf(tool: ToolSpec, argument: string, id: string): ToolCall {
  if (argument.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(argument);
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        return { id, name: tool.name, input: value as Record<string, unknown> };
    } catch {
      // Not JSON: plain text, like any other argument.
    }
  }
  const property = textProperty(tool);
  if (property) return { id, name: tool.name, input: { [property]: argument } };
  return {
    id,
    name: tool.name,
    input: {},
    inputError: `${tool.name} has no required string property for a plain-text argument; give it a JSON object.`,
  };
}

/** The calls the last user message asks for, one per `@<Tool> <argument>` line naming an offered tool. */
function requestedToolCalls(request: CompletionRequest): ToolCall[] {
  const tools = new Map((request.tools ?? []).map((tool) => [tool.name, tool]));
  const last = request.messages.at(-1);
  if (tools.size === 0 || last?.role !== 'user') return [];
  const calls: ToolCall[] = [];
  last.content.split(/\r?\n/).forEach((line, index) => {
    const [, name = '', argument = ''] = directive.exec(line.trim()) ?? [];
    const tool = tools.get(name);
    if (!tool) return;
    // The message count tells the steps of a conversation apart, the line index the calls of one step.
    const id = `call_${createHash('sha256').update([request.messages.length, index, name, argument].join('\0')).digest('hex').slice(0, 12)}`;
    calls.push(toolCallOf(tool, argument, id));
  });
  return calls;
}

/** The answer after a step's tools ran: their results, quoted. */
function reportResults(messages: ChatMessage[]): string {
  let start = messages.length;
  while (start > 0 && messages[start - 1]!.role === 'tool') start--;
  const names = new Map(messages.flatMap((m) => (m.role === 'assistant' ? m.toolCalls.map((c) => [c.id, c.name] as const) : [])));
  const results = messages.slice(start).map((m) => {
    const { toolCallId, content, isError } = m as Extract<ChatMessage, { role: 'tool' }>;
    const quoted = content.trim().slice(0, resultLimit);
    return `Result of ${names.get(toolCallId) ?? 'an unknown tool'} (${toolCallId})${isError ? ' (error)' : ''}: ${quoted}`;
  });
  return [
    "[offline] No model was called: this is the offline provider's deterministic stand-in, quoting the tools' results.",
    ...results,
  ].join('\n');
}

function describeInput(request: CompletionRequest): string {
  const input = request.messages.findLast((m) => m.role === 'user')?.content ?? '';
  const digest = createHash('sha256').update(request.system).update('\0').update(input).digest('hex').slice(0, 12);
  const preview = input.replace(/\s+/g, ' ').trim().slice(0, 200);
  const tools = request.tools ?? [];
  return [
    `[offline] No model was called: this is the offline provider's deterministic stand-in (${digest}).`,
    `Received ${input.length} characters of input and ${request.system.length} of instructions.`,
    `Input begins: "${preview}"`,
    ...(tools.length > 0
      ? [`Tools offered: ${tools.map((t) => t.name).join(', ')}. A line "@<Tool> <argument>" in the input calls one.`]
      : []),
  ].join('\n');
}

export function createOfflineProvider(): LlmProvider {
  return {
    name: 'offline',
    async complete(request: CompletionRequest): Promise<Completion> {
      const toolCalls = requestedToolCalls(request);
      const output =
        toolCalls.length > 0 ? '' : request.messages.at(-1)?.role === 'tool' ? reportResults(request.messages) : describeInput(request);
      const tools = request.tools ?? [];
      const read = [
        request.system,
        ...request.messages.flatMap((m) => [m.content, ...(m.role === 'assistant' ? m.toolCalls.map((c) => JSON.stringify(c.input)) : [])]),
        tools.length > 0 ? JSON.stringify(tools) : '',
      ].join('');
      // Streamed line by line, as a model's text would arrive in pieces.
      if (output) for (const line of output.split(/(?<=\n)/)) request.onDelta?.(line);
      const written = output + (toolCalls.length > 0 ? JSON.stringify(toolCalls) : '');
      return {
        provider: 'offline',
        model: request.model,
        output,
        toolCalls,
        usage: { inputTokens: tokensOf(read), outputTokens: Math.min(tokensOf(written), request.maxOutputTokens), cachedInputTokens: 0 },
      };
    },
  };
}
