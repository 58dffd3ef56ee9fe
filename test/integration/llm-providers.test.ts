// The real provider adapters against a local server speaking their HTTP APIs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicProvider } from '../../src/integrations/llm/anthropic.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { ProviderError, type LlmProvider } from '../../src/integrations/llm/provider.js';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.js';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

const request = { model: 'some-model', system: 'You are terse.', input: 'Say hi.', maxOutputTokens: 64 };

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
  });

  it.each([
    [{ kind: 'error', status: 429, message: 'rate limited' } as const, true],
    [{ kind: 'error', status: 500, message: 'boom' } as const, true],
    [{ kind: 'error', status: 529, message: 'overloaded' } as const, true],
    [{ kind: 'slow', ms: 1_000 } as const, true],
    [{ kind: 'malformed' } as const, true],
    [{ kind: 'error', status: 400, message: 'context length exceeded' } as const, false],
    [{ kind: 'error', status: 401, message: 'invalid api key sk-live-abcdefghijklmnop' } as const, false],
  ])('classifies %o as transient: %s', async (reply, transient) => {
    fake.script(reply);
    const error = await failure(make());
    expect(error.transient).toBe(transient);
    expect(error.message).not.toMatch(/sk-(live|test|ant)-[a-z0-9]{8,}/i);
    if (reply.kind === 'error') expect(error.message).toContain(String(reply.status));
  });

  it('stops when the caller aborts', async () => {
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
