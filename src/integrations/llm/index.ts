import { createAnthropicProvider } from './anthropic.js';
import { createOfflineProvider } from './offline.js';
import { createOpenAiProvider } from './openai.js';
import type { LlmProvider, ProviderName } from './provider.js';

export type Providers = Partial<Record<ProviderName, LlmProvider>>;

/** The providers this deployment can call: offline always; the others when their key is set. */
export function providersFromEnv(env: NodeJS.ProcessEnv): Providers {
  const timeoutMs = env.LLM_TIMEOUT_MS ? Number(env.LLM_TIMEOUT_MS) : undefined;
  return {
    offline: createOfflineProvider(),
    ...(env.OPENAI_API_KEY
      ? { openai: createOpenAiProvider({ apiKey: env.OPENAI_API_KEY, baseUrl: env.OPENAI_BASE_URL, timeoutMs }) }
      : {}),
    ...(env.ANTHROPIC_API_KEY
      ? { anthropic: createAnthropicProvider({ apiKey: env.ANTHROPIC_API_KEY, baseUrl: env.ANTHROPIC_BASE_URL, timeoutMs }) }
      : {}),
  };
}

export const providerKeyVariable: Record<ProviderName, string> = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY', offline: '' };
