// The real provider adapters against a local server speaking their HTTP APIs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicProvider } from '../../src/integrations/llm/anthropic.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { ProviderError, type ChatMessage, type LlmProvider, type ToolSpec } from '../../src/integrations/llm/provider.js';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

const request = {
  model: 'some-model',
  system: 'You are terse.',
  messages: [{ role: 'user', content: 'Say hi.' }] as ChatMessage[],
  maxOutputTokens: 64,
};

const weather: ToolSpec = {
  name: 'get_weather',
  description: 'The weather in a city now.',
  inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const clock: ToolSpec = {
  name: 'get_time',
  description: 'The local time in a time zone.',
  inputSchema: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] },
};
const question = 'What is the weather in Paris and the time in Tokyo?';

async function failure(provider: LlmProvider): Promise<ProviderError> {
  try {
    await provider.complete(request);
  } catch (error) {
    if (error instanceof ProviderError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe.each([
  ['openai', () => createOpenAiProvider({ apiKey: 'sk-test-secret-key-123456', baseUrl: `${fake.url}/v1`, timeoutMs: 300 })],
  ['anthropic', () => createAnthropicProvider({ apiKey: 'sk-ant-test-secret-123456', baseUrl: fake.url, timeoutMs: 300 })],
])('the %s adapter', (name, make) => {
  it('sends the instructions as the system message and the input as the user message, and reads usage', async () => {
    fake.script({ kind: 'ok', text: 'Hi.', usage: { input: 30, output: 2, cached: 10 } });
    const before = fake.received.length;
    const completion = await make().complete(request);
    expect(completion).toEqual({
      provider: name,
      model: 'some-model',
      output: 'Hi.',
      toolCalls: [],
      usage: { inputTokens: 30, outputTokens: 2, cachedInputTokens: 10 },
    });
    const sent = fake.received[before]!;
    if (name === 'openai') {
      expect(sent.path).toBe('/v1/chat/completions');
      expect(sent.headers.authorization).toBe('Bearer sk-test-secret-key-123456');
      expect(sent.body.messages).toEqual([
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Say hi.' },
      ]);
    } else {
      expect(sent.path).toBe('/v1/messages');
      expect(sent.headers['x-api-key']).toBe('sk-ant-test-secret-123456');
      expect(sent.headers['anthropic-version']).toBe('2023-06-01');
      expect(sent.body).toMatchObject({ system: 'You are terse.', messages: [{ role: 'user', content: 'Say hi.' }] });
    }
    expect(sent.body.max_tokens).toBe(64);
    expect(sent.body).not.toHaveProperty('tools');
    expect(sent.body.stream).toBe(true);
    if (name === 'openai') expect(sent.body.stream_options).toEqual({ include_usage: true });
  });

  it('passes the text on in order as it arrives, the pieces joining to the output', async () => {
    const text = 'Paris: 18 °C and clear 🌤; the time in Tokyo is unknown.';
    fake.script({ kind: 'ok', text, usage: { input: 12, output: 9 } });
    const deltas: string[] = [];
    const completion = await make().complete({ ...request, onDelta: (delta) => deltas.push(delta) });
    expect(completion).toEqual({
      provider: name,
      model: 'some-model',
      output: text,
      toolCalls: [],
      usage: { inputTokens: 12, outputTokens: 9, cachedInputTokens: 0 },
    });
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.every((delta) => delta.length > 0)).toBe(true);
    expect(deltas.join('')).toBe(text);
  });

  it('joins tool-call arguments sent in pieces, with no text deltas for a reply that only calls tools', async () => {
    const input = { city: 'Zürich', units: 'metric', days: 3, note: 'rain 🌧, "quoted"', nested: { hours: [6, 12, 18] } };
    fake.script({
      kind: 'ok',
      toolCalls: [
        { id: 'call_a', name: 'get_weather', input },
        { id: 'call_b', name: 'get_time', input: {} },
      ],
    });
    const deltas: string[] = [];
    const completion = await make().complete({ ...request, tools: [weather, clock], onDelta: (delta) => deltas.push(delta) });
    expect(completion.output).toBe('');
    expect(completion.toolCalls).toEqual([
      { id: 'call_a', name: 'get_weather', input },
      { id: 'call_b', name: 'get_time', input: {} },
    ]);
    expect(deltas).toEqual([]);
  });

  it('takes the usage from the end of the stream', async () => {
    fake.script({ kind: 'ok', text: 'Counted.', usage: { input: 500, output: 77, cached: 300 } });
    const completion = await make().complete(request);
    expect(completion.usage).toEqual({ inputTokens: 500, outputTokens: 77, cachedInputTokens: 300 });
  });

  it('treats a stream that breaks or ends early as a transient failure, after the text it had passed on', async () => {
    for (const reply of [{ kind: 'broken' } as const, { kind: 'broken', cleanEnd: true } as const]) {
      fake.script(reply);
      const deltas: string[] = [];
      const error = await make()
        .complete({ ...request, onDelta: (delta) => deltas.push(delta) })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).transient).toBe(true);
      expect(deltas.length).toBeGreaterThan(0);
    }
  });

  it('stops reading at once when the caller aborts mid-stream', async () => {
    fake.script({ kind: 'ok', text: 'A long answer that will not be finished.', stallMs: 5_000 });
    const controller = new AbortController();
    const deltas: string[] = [];
    const started = Date.now();
    const error = await make()
      .complete({
        ...request,
        signal: controller.signal,
        onDelta: (delta) => {
          deltas.push(delta);
          controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ transient: false, message: `${name} call aborted` });
    expect(deltas).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(250);
  });

  it('keeps the timeout over the whole call: a stream that stalls past it is a transient failure', async () => {
    fake.script({ kind: 'ok', text: 'A stream that stalls.', stallMs: 2_000 });
    const error = await failure(make());
    expect(error).toMatchObject({ transient: true, message: `${name} did not finish its answer within 300 ms` });
  });

  it('reports an error inside the stream as transient when the provider is overloaded or failing', async () => {
    fake.script({ kind: 'failing', type: 'overloaded_error', message: 'Overloaded' });
    const overloaded = await failure(make());
    expect(overloaded).toMatchObject({ transient: true, message: expect.stringContaining('Overloaded') });
    fake.script({ kind: 'failing', type: 'invalid_request_error', message: 'bad key sk-live-abcdefghijklmnop' });
    const invalid = await failure(make());
    // OpenAI-compatible servers give no kind a client could act on: a failure mid-answer is theirs.
    expect(invalid.transient).toBe(name === 'openai');
    expect(invalid.message).not.toContain('abcdefghijklmnop');
  });

  it('offers no tools when the list is empty', async () => {
    fake.script({ kind: 'ok', text: 'Hi.' });
    const before = fake.received.length;
    await make().complete({ ...request, tools: [] });
    expect(fake.received[before]!.body).not.toHaveProperty('tools');
  });

  it('calls two tools at once, then answers from their results', async () => {
    const provider = make();
    fake.script({
      kind: 'ok',
      toolCalls: [
        { name: 'get_weather', input: { city: 'Paris' } },
        { name: 'get_time', input: { zone: 'Asia/Tokyo' } },
      ],
      usage: { input: 120, output: 30 },
    });
    const before = fake.received.length;
    const step1 = await provider.complete({ ...request, messages: [{ role: 'user', content: question }], tools: [weather, clock] });
    const prefix = name === 'openai' ? 'call_fake_' : 'toolu_fake_';
    expect(step1).toEqual({
      provider: name,
      model: 'some-model',
      output: '',
      toolCalls: [
        { id: expect.stringMatching(new RegExp(`^${prefix}\\d+$`)), name: 'get_weather', input: { city: 'Paris' } },
        { id: expect.stringMatching(new RegExp(`^${prefix}\\d+$`)), name: 'get_time', input: { zone: 'Asia/Tokyo' } },
      ],
      usage: { inputTokens: 120, outputTokens: 30, cachedInputTokens: 0 },
    });
    const [weatherId, clockId] = step1.toolCalls.map((c) => c.id) as [string, string];
    expect(weatherId).not.toBe(clockId);
    const sent1 = fake.received[before]!.body;
    if (name === 'openai') {
      expect(sent1.tools).toEqual([
        { type: 'function', function: { name: 'get_weather', description: 'The weather in a city now.', parameters: weather.inputSchema } },
        { type: 'function', function: { name: 'get_time', description: 'The local time in a time zone.', parameters: clock.inputSchema } },
      ]);
      expect(sent1.messages).toEqual([
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: question },
      ]);
    } else {
      expect(sent1.tools).toEqual([
        { name: 'get_weather', description: 'The weather in a city now.', input_schema: weather.inputSchema },
        { name: 'get_time', description: 'The local time in a time zone.', input_schema: clock.inputSchema },
      ]);
      expect(sent1.messages).toEqual([{ role: 'user', content: question }]);
    }

    fake.script({
      kind: 'ok',
      text: 'Paris: 18 °C and clear; the time in Tokyo is unknown.',
      usage: { input: 80, output: 14, cached: 120 },
    });
    const step2 = await provider.complete({
      ...request,
      tools: [weather, clock],
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: step1.output, toolCalls: step1.toolCalls },
        { role: 'tool', toolCallId: weatherId, content: '18 °C, clear', isError: false },
        { role: 'tool', toolCallId: clockId, content: 'Unknown time zone Asia/Tokyo.', isError: true },
        { role: 'user', content: 'One line, please.' },
      ],
    });
    expect(step2).toEqual({
      provider: name,
      model: 'some-model',
      output: 'Paris: 18 °C and clear; the time in Tokyo is unknown.',
      toolCalls: [],
      usage: { inputTokens: 80, outputTokens: 14, cachedInputTokens: 120 },
    });
    const sent2 = fake.received[before + 1]!.body;
    expect(sent2.tools).toEqual(sent1.tools);
    if (name === 'openai') {
      expect(sent2.messages).toEqual([
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: question },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: weatherId, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: clockId, type: 'function', function: { name: 'get_time', arguments: '{"zone":"Asia/Tokyo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: weatherId, content: '18 °C, clear' },
        { role: 'tool', tool_call_id: clockId, content: 'Error: Unknown time zone Asia/Tokyo.' },
        { role: 'user', content: 'One line, please.' },
      ]);
    } else {
      expect(sent2.messages).toEqual([
        { role: 'user', content: question },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: weatherId, name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: clockId, name: 'get_time', input: { zone: 'Asia/Tokyo' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: weatherId, content: '18 °C, clear', is_error: false },
            { type: 'tool_result', tool_use_id: clockId, content: 'Unknown time zone Asia/Tokyo.', is_error: true },
            { type: 'text', text: 'One line, please.' },
          ],
        },
      ]);
    }
  });

  it('sends what the model said with its calls back in the history', async () => {
    fake.script({ kind: 'ok', text: 'Done.' });
    const before = fake.received.length;
    const call = { id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } };
    await make().complete({
      ...request,
      tools: [weather],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: 'Looking it up.', toolCalls: [call] },
        { role: 'tool', toolCallId: 'call_1', content: '-3 °C', isError: false },
      ],
    });
    const sent = fake.received[before]!.body.messages as unknown[];
    if (name === 'openai') {
      expect(sent.slice(2)).toEqual([
        {
          role: 'assistant',
          content: 'Looking it up.',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '-3 °C' },
      ]);
    } else {
      expect(sent.slice(1)).toEqual([
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking it up.' },
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '-3 °C', is_error: false }] },
      ]);
    }
  });

  it('returns a call whose arguments are not a JSON object with an input error', async () => {
    const garbage = `{"city": "${'x'.repeat(1_000)}`;
    fake.script({
      kind: 'ok',
      text: 'Trying.',
      toolCalls: [
        { id: 'c1', name: 'get_weather', input: ['Paris'] },
        { id: 'c2', name: 'get_weather', input: 'Paris' },
        { id: 'c3', name: 'get_weather', input: null, arguments: garbage },
      ].slice(0, name === 'openai' ? 3 : 2),
    });
    const completion = await make().complete({ ...request, tools: [weather] });
    expect(completion.output).toBe('Trying.');
    expect(completion.toolCalls.slice(0, 2)).toEqual([
      { id: 'c1', name: 'get_weather', input: {}, inputError: 'The tool input must be a JSON object, not an array.' },
      { id: 'c2', name: 'get_weather', input: {}, inputError: 'The tool input must be a JSON object, not a string.' },
    ]);
    if (name === 'openai') {
      const broken = completion.toolCalls[2]!;
      expect(broken).toMatchObject({ id: 'c3', name: 'get_weather', input: {} });
      expect(broken.inputError).toMatch(/^The tool input is not valid JSON/);
      expect(broken.inputError!.length).toBeLessThan(300);
    }
  });

  it('treats a reply with neither text nor tool calls as broken on openai, as an empty answer on anthropic', async () => {
    fake.script({ kind: 'ok', toolCalls: [] });
    if (name === 'openai') expect((await failure(make())).transient).toBe(true);
    else expect(await make().complete(request)).toMatchObject({ output: '', toolCalls: [] });
  });

  it.each([
    [{ kind: 'error', status: 429, message: 'rate limited' } as const, true],
    [{ kind: 'error', status: 500, message: 'boom' } as const, true],
    [{ kind: 'error', status: 529, message: 'overloaded' } as const, true],
    [{ kind: 'slow', ms: 1_000 } as const, true],
    [{ kind: 'malformed' } as const, true],
    [{ kind: 'broken' } as const, true],
    [{ kind: 'ok', text: 'Hi.', unstreamed: true } as const, true],
    [{ kind: 'error', status: 400, message: 'context length exceeded' } as const, false],
    [{ kind: 'error', status: 401, message: 'invalid api key sk-live-abcdefghijklmnop' } as const, false],
  ])('classifies %o as transient: %s', async (reply, transient) => {
    fake.script(reply);
    const error = await failure(make());
    expect(error.transient).toBe(transient);
    expect(error.message).not.toMatch(/sk-(live|test|ant)-[a-z0-9]{8,}/i);
    if (reply.kind === 'error') expect(error.message).toContain(String(reply.status));
  });

  it('stops when the caller aborts before the answer starts', async () => {
    fake.script({ kind: 'slow', ms: 2_000 });
    const controller = new AbortController();
    const call = make().complete({ ...request, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await call.catch((e: unknown) => e as ProviderError);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).transient).toBe(false);
  });
});

describe('the offline provider', () => {
  it('is deterministic, instant and says it is offline', async () => {
    const provider = createOfflineProvider();
    const [a, b] = [await provider.complete(request), await provider.complete(request)];
    expect(a).toEqual(b);
    expect(a.provider).toBe('offline');
    expect(a.output).toMatch(/^\[offline\] No model was called/);
    expect(a.usage.inputTokens).toBeGreaterThan(0);
    expect(a.usage.outputTokens).toBeLessThanOrEqual(request.maxOutputTokens);
  });
});
