// The zero-configuration provider: no model, no network. Deterministic output that says what it is, so
// nobody mistakes it for a model's answer, with usage estimated at four bytes a token. It calls tools on request
// (a line `@<Tool> <argument>` in a user message of the turn it answers) so the whole tool loop runs without a model: a JSON object
// is the input itself, plain text fills the input's required strings (see plainInput).
import { createHash } from 'node:crypto';
import type { ChatMessage, Completion, CompletionRequest, LlmProvider, ToolCall, ToolSpec } from './provider.js';

const tokensOf = (text: string): number => Math.ceil(Buffer.byteLength(text, 'utf8') / 4);

/** `@<Tool>`, then its argument; tools whose input needs nothing are called with none. */
const directive = /^@(\S+)(?:[ \t]+(\S.*))?$/;

/** A tool result is quoted up to this many characters. */
const resultLimit = 4_000;

interface PropertySchema {
  type?: unknown;
  enum?: unknown;
}
interface ObjectSchema {
  required?: unknown;
  properties?: Record<string, PropertySchema | undefined>;
}

const isText = (schema: PropertySchema | undefined): boolean =>
  schema?.type === 'string' || (Array.isArray(schema?.type) && schema.type.includes('string'));
const propertiesOf = (tool: ToolSpec) => (tool.inputSchema as ObjectSchema).properties ?? {};
const requiredOf = (tool: ToolSpec): string[] => {
  const { required } = tool.inputSchema as ObjectSchema;
  return Array.isArray(required) ? required.filter((name): name is string => typeof name === 'string') : [];
};

/** The required string properties of a tool's input, in order: plain-text arguments fill them. */
const textProperties = (tool: ToolSpec): string[] => requiredOf(tool).filter((name) => isText(propertiesOf(tool)[name]));

/** Whether a tool's input may be empty: nothing required, directly or through a combination of schemas. */
const needsNothing = (tool: ToolSpec): boolean =>
  requiredOf(tool).length === 0 && !['anyOf', 'oneOf', 'allOf', 'if', 'not'].some((key) => key in tool.inputSchema);

/** The first words of a text, as a description or a summary of it. */
const gist = (text: string): string => text.split(/\s+/).slice(0, 5).join(' ').slice(0, 80).trimEnd();

/**
 * Arguments addressed to someone, `<name>: <text>`: the name fills one property, the text another, and its first
 * words a third (the agent-team tools: `@Agent <slug>: <prompt>`, `@SendMessage <name>: <message>`). The name is
 * one word; without one the text goes alone when the name is optional, else the line is an input error.
 */
const addressed: Record<string, { name: string; text: string; gist: string; nameRequired: boolean }> = {
  Agent: { name: 'subagent_type', text: 'prompt', gist: 'description', nameRequired: false },
  Task: { name: 'subagent_type', text: 'prompt', gist: 'description', nameRequired: false },
  SendMessage: { name: 'to', text: 'message', gist: 'summary', nameRequired: true },
};

/** The input a plain-text argument stands for, or why it stands for none. */
function plainInput(tool: ToolSpec, argument: string): Record<string, unknown> | string {
  const properties = propertiesOf(tool);
  const shape = addressed[tool.name];
  if (shape && [shape.name, shape.text, shape.gist].every((key) => isText(properties[key]))) {
    const [, name, text] = /^([^\s:]+):[ \t]+(\S.*)$/.exec(argument) ?? [];
    if (name && text) return { [shape.name]: name, [shape.text]: text, [shape.gist]: gist(text) };
    if (!shape.nameRequired) return { [shape.text]: argument, [shape.gist]: gist(argument) };
    return `${tool.name} takes "<${shape.name}>: <${shape.text}>" or a JSON object.`;
  }
  const texts = textProperties(tool);
  // Two required strings: `<first>: <second>` (`@TaskCreate <subject>: <description>`).
  if (texts.length === 2) {
    const [, head, rest] = /^(.+?):[ \t]+(\S.*)$/.exec(argument) ?? [];
    if (head?.trim() && rest) return { [texts[0]!]: head.trim(), [texts[1]!]: rest };
  }
  // `<value> <choice>`: the required string, then a value of one of the other properties' enums
  // (`@TaskUpdate <n> <status>`).
  const [, value, choice] = /^(\S+)[ \t]+(\S+)$/.exec(argument) ?? [];
  if (texts.length === 1 && value && choice) {
    const chosen = Object.keys(properties).filter((key) => {
      const values = properties[key]?.enum;
      return key !== texts[0] && Array.isArray(values) && values.includes(choice);
    });
    if (chosen.length === 1) return { [texts[0]!]: value, [chosen[0]!]: choice };
  }
  if (texts[0]) return { [texts[0]]: argument };
  return `${tool.name} has no required string property for a plain-text argument; give it a JSON object.`;
}

function toolCallOf(tool: ToolSpec, argument: string, id: string): ToolCall {
  if (argument === '') return { id, name: tool.name, input: {} };
  if (argument.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(argument);
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        return { id, name: tool.name, input: value as Record<string, unknown> };
    } catch {
      // Not JSON: plain text, like any other argument.
    }
  }
  const input = plainInput(tool, argument);
  return typeof input === 'string' ? { id, name: tool.name, input: {}, inputError: input } : { id, name: tool.name, input };
}

/**
 * The messages of the turn the model answers: those after its last answer (the input, or the tools' results,
 * and any messages teammates sent meanwhile).
 */
function currentTurn(messages: ChatMessage[]): ChatMessage[] {
  const last = messages.findLastIndex((m) => m.role === 'assistant');
  return messages.slice(last + 1);
}

/**
 * The calls the user messages of the current turn ask for, one per `@<Tool> <argument>` line naming an offered
 * tool; `@<Tool>` alone calls a tool whose input needs nothing (`@TaskList`, `@TeamDelete`).
 */
function requestedToolCalls(request: CompletionRequest): ToolCall[] {
  const tools = new Map((request.tools ?? []).map((tool) => [tool.name, tool]));
  const turn = currentTurn(request.messages);
  if (tools.size === 0 || turn.at(-1)?.role !== 'user') return [];
  const calls: ToolCall[] = [];
  turn.forEach((message, position) => {
    if (message.role !== 'user') return;
    message.content.split(/\r?\n/).forEach((line, index) => {
      const [, name = '', argument = ''] = directive.exec(line.trim()) ?? [];
      const tool = tools.get(name);
      if (!tool || (argument === '' && !needsNothing(tool))) return;
      // The message count tells the steps of a conversation apart, the line index the calls of one step (with
      // the message's place in the turn when an earlier one asked too).
      const place = position === turn.length - 1 ? String(index) : `${position}.${index}`;
      const id = `call_${createHash('sha256').update([request.messages.length, place, name, argument].join('\0')).digest('hex').slice(0, 12)}`;
      calls.push(toolCallOf(tool, argument, id));
    });
  });
  return calls;
}

/** The answer after a step's tools ran: their results, quoted, and the messages that came with them. */
function reportResults(messages: ChatMessage[]): string {
  const names = new Map(messages.flatMap((m) => (m.role === 'assistant' ? m.toolCalls.map((c) => [c.id, c.name] as const) : [])));
  const quoted = currentTurn(messages).map((m) => {
    if (m.role === 'user') return `Message: ${m.content.trim().slice(0, resultLimit)}`;
    const { toolCallId, content, isError } = m as Extract<ChatMessage, { role: 'tool' }>;
    return `Result of ${names.get(toolCallId) ?? 'an unknown tool'} (${toolCallId})${isError ? ' (error)' : ''}: ${content.trim().slice(0, resultLimit)}`;
  });
  return [
    "[offline] No model was called: this is the offline provider's deterministic stand-in, quoting the tools' results.",
    ...quoted,
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
        toolCalls.length > 0
          ? ''
          : currentTurn(request.messages).some((m) => m.role === 'tool')
            ? reportResults(request.messages)
            : describeInput(request);
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
