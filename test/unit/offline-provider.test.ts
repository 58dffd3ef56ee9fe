import { describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import type { ChatMessage, CompletionRequest, ToolCall, ToolSpec } from '../../src/integrations/llm/provider.js';

const weather: ToolSpec = {
  name: 'get_weather',
  description: 'The weather in a city now.',
  inputSchema: {
    type: 'object',
    properties: { units: { type: 'string' }, days: { type: 'integer' }, city: { type: 'string' } },
    required: ['days', 'city'],
  },
};
const clock: ToolSpec = {
  name: 'get_time',
  description: 'The local time in a time zone.',
  inputSchema: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] },
};
const counter: ToolSpec = {
  name: 'count',
  description: 'Counts to n.',
  inputSchema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
};

const tokens = (...parts: string[]) => Math.ceil(Buffer.byteLength(parts.join(''), 'utf8') / 4);

function ask(content: string, tools: ToolSpec[] = [weather, clock, counter]): CompletionRequest {
  return { model: 'offline-small', system: 'You are terse.', messages: [{ role: 'user', content }], tools, maxOutputTokens: 256 };
}

const provider = createOfflineProvider();

describe('the offline provider', () => {
  it('turns each @<Tool> line naming an offered tool into a call, in order', async () => {
    const request = ask(
      ['Please look these up.', '@get_weather Paris, France', '@send_mail boss@example.com', '  @get_time {"zone": "Asia/Tokyo"}'].join(
        '\n',
      ),
    );
    const completion = await provider.complete(request);
    expect(completion).toMatchObject({
      provider: 'offline',
      model: 'offline-small',
      output: '',
      toolCalls: [
        { name: 'get_weather', input: { city: 'Paris, France' } },
        { name: 'get_time', input: { zone: 'Asia/Tokyo' } },
      ],
    });
    const [a, b] = completion.toolCalls.map((c) => c.id);
    expect(a).toMatch(/^call_[0-9a-f]{12}$/);
    expect(b).toMatch(/^call_[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(completion.toolCalls.every((c) => c.inputError === undefined)).toBe(true);
  });

  it('gives a plain-text argument to a tool without a required string property as an input error', async () => {
    const [call] = (await provider.complete(ask('@count ten'))).toolCalls;
    expect(call).toMatchObject({ name: 'count', input: {}, inputError: expect.stringContaining('JSON object') });
    expect((await provider.complete(ask('@count {"n": 10}'))).toolCalls[0]!.input).toEqual({ n: 10 });
  });

  it('answers with text when no tool is offered or none is asked for', async () => {
    const unoffered = await provider.complete(ask('@get_weather Paris', []));
    expect(unoffered.toolCalls).toEqual([]);
    expect(unoffered.output).toMatch(/^\[offline\] No model was called/);
    expect(unoffered.output).toContain('Input begins: "@get_weather Paris"');
    expect(unoffered.output).not.toContain('Tools offered');

    const unasked = await provider.complete(ask('What is the weather in Paris?'));
    expect(unasked.toolCalls).toEqual([]);
    expect(unasked.output).toMatch(/^\[offline\] No model was called/);
    expect(unasked.output).toContain('Tools offered: get_weather, get_time, count.');
  });

  it('answers with the results of the last step once the tools ran', async () => {
    const first = ask('@get_weather Paris\n@get_time Asia/Tokyo');
    const step1 = await provider.complete(first);
    const [weatherCall, clockCall] = step1.toolCalls as [ToolCall, ToolCall];
    const messages: ChatMessage[] = [
      ...first.messages,
      { role: 'assistant', content: '', toolCalls: step1.toolCalls },
      { role: 'tool', toolCallId: weatherCall.id, content: '  18 °C, clear\n', isError: false },
      { role: 'tool', toolCallId: clockCall.id, content: 'x'.repeat(5_000), isError: true },
    ];
    const step2 = await provider.complete({ ...first, messages });
    expect(step2.toolCalls).toEqual([]);
    expect(step2.output).toBe(
      [
        "[offline] No model was called: this is the offline provider's deterministic stand-in, quoting the tools' results.",
        `Result of get_weather (${weatherCall.id}): 18 °C, clear`,
        `Result of get_time (${clockCall.id}) (error): ${'x'.repeat(4_000)}`,
      ].join('\n'),
    );

    // A second step's calls get other ids, and only its own results are quoted after it.
    const again: ChatMessage[] = [
      ...messages,
      { role: 'assistant', content: step2.output, toolCalls: [] },
      { role: 'user', content: '@get_weather Paris' },
    ];
    const step3 = await provider.complete({ ...first, messages: again });
    expect(step3.toolCalls[0]!.id).not.toBe(weatherCall.id);
    const step4 = await provider.complete({
      ...first,
      messages: [
        ...again,
        { role: 'assistant', content: '', toolCalls: step3.toolCalls },
        { role: 'tool', toolCallId: step3.toolCalls[0]!.id, content: 'Rain.', isError: false },
      ],
    });
    expect(step4.output.split('\n').slice(1)).toEqual([`Result of get_weather (${step3.toolCalls[0]!.id}): Rain.`]);
  });

  it('passes its text on in pieces, line by line, that join to the output', async () => {
    const deltas: string[] = [];
    const completion = await provider.complete({ ...ask('Say hi.'), onDelta: (delta) => deltas.push(delta) });
    expect(deltas.length).toBe(completion.output.split('\n').length);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(completion.output);

    const calls: string[] = [];
    const calling = await provider.complete({ ...ask('@get_weather Paris'), onDelta: (delta) => calls.push(delta) });
    expect(calling.output).toBe('');
    expect(calls).toEqual([]);
  });

  it('is deterministic', async () => {
    const request = ask('Check.\n@get_weather Paris\n@get_time Europe/Oslo');
    expect(await provider.complete(request)).toEqual(await provider.complete(structuredClone(request)));
    const plain = ask('Say hi.');
    expect(await provider.complete(plain)).toEqual(await provider.complete(structuredClone(plain)));
  });

  it('estimates usage at four bytes a token over everything read and written', async () => {
    const first = ask('@get_weather Paris\n@get_time {"zone":"Asia/Tokyo"}');
    const step1 = await provider.complete(first);
    const tools = JSON.stringify([weather, clock, counter]);
    expect(step1.usage).toEqual({
      inputTokens: tokens('You are terse.', '@get_weather Paris\n@get_time {"zone":"Asia/Tokyo"}', tools),
      outputTokens: tokens(JSON.stringify(step1.toolCalls)),
      cachedInputTokens: 0,
    });

    const messages: ChatMessage[] = [
      ...first.messages,
      { role: 'assistant', content: '', toolCalls: step1.toolCalls },
      { role: 'tool', toolCallId: step1.toolCalls[0]!.id, content: 'Sunny.', isError: false },
      { role: 'tool', toolCallId: step1.toolCalls[1]!.id, content: '09:00', isError: false },
    ];
    const step2 = await provider.complete({ ...first, messages });
    expect(step2.usage).toEqual({
      inputTokens: tokens(
        'You are terse.',
        '@get_weather Paris\n@get_time {"zone":"Asia/Tokyo"}',
        '',
        '{"city":"Paris"}',
        '{"zone":"Asia/Tokyo"}',
        'Sunny.',
        '09:00',
        tools,
      ),
      outputTokens: tokens(step2.output),
      cachedInputTokens: 0,
    });

    const capped = await provider.complete({ ...first, maxOutputTokens: 5 });
    expect(capped.usage.outputTokens).toBe(5);
  });
});
