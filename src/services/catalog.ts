// The catalog: plans, credit packs and models, defined once and typed by the contract.
import type { components } from '../generated/api.js';

export type Plan = components['schemas']['Plan'];
export type CreditPack = components['schemas']['CreditPack'];
export type Model = components['schemas']['Model'];
/** A model as the catalog defines it; `available` depends on the deployment and is added by listModels. */
export type CatalogModel = Omit<Model, 'available'>;
export type Provider = Model['provider'];

/** Deeply frozen: the catalog never changes while the service runs, so its responses are serialised once. */
export function frozen<T>(items: T[]): readonly T[] {
  const freeze = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
    Object.freeze(value);
    for (const item of Object.values(value)) freeze(item);
  };
  freeze(items);
  return items;
}

export const plans: readonly Plan[] = frozen([
  {
    id: 'free',
    name: 'Free',
    description: 'Try Staffroom with a small monthly allowance.',
    priceCents: 0,
    currency: 'usd',
    monthlyCredits: 10_000,
    limits: { employees: 3, concurrentTasks: 1, members: 3, requestsPerMinute: 600 },
  },
  {
    id: 'starter',
    name: 'Starter',
    description: 'For small teams putting employees to work every day.',
    priceCents: 2_900,
    currency: 'usd',
    monthlyCredits: 300_000,
    limits: { employees: 20, concurrentTasks: 5, members: 10, requestsPerMinute: 3_000 },
  },
  {
    id: 'pro',
    name: 'Pro',
    description: 'For teams that run employees around the clock.',
    priceCents: 9_900,
    currency: 'usd',
    monthlyCredits: 1_200_000,
    limits: { employees: 200, concurrentTasks: 25, members: 100, requestsPerMinute: 12_000 },
  },
]);

export const creditPacks: readonly CreditPack[] = frozen([
  { id: 'credits-100k', name: '100,000 credits', credits: 100_000, priceCents: 1_000, currency: 'usd' },
  { id: 'credits-1m', name: '1,000,000 credits', credits: 1_000_000, priceCents: 9_500, currency: 'usd' },
]);

// Prices are integer micro-dollars per million tokens. Offline models never call a provider; they carry a
// small price so that credits move in a zero-configuration setup exactly as they do in production.
export const models: readonly CatalogModel[] = frozen([
  {
    id: 'offline-small',
    provider: 'offline',
    name: 'Offline (deterministic, no model)',
    contextWindow: 128_000,
    maxOutputTokens: 4_096,
    pricing: { inputPerMillion: 100_000, outputPerMillion: 400_000, cachedInputPerMillion: 50_000 },
  },
  {
    id: 'gpt-4o-mini',
    provider: 'openai',
    name: 'GPT-4o mini',
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    pricing: { inputPerMillion: 150_000, outputPerMillion: 600_000, cachedInputPerMillion: 75_000 },
  },
  {
    id: 'gpt-4o',
    provider: 'openai',
    name: 'GPT-4o',
    contextWindow: 128_000,
    maxOutputTokens: 16_384,
    pricing: { inputPerMillion: 2_500_000, outputPerMillion: 10_000_000, cachedInputPerMillion: 1_250_000 },
  },
  {
    id: 'gpt-4.1-mini',
    provider: 'openai',
    name: 'GPT-4.1 mini',
    contextWindow: 1_047_576,
    maxOutputTokens: 32_768,
    pricing: { inputPerMillion: 400_000, outputPerMillion: 1_600_000, cachedInputPerMillion: 100_000 },
  },
  {
    id: 'claude-haiku-4-5',
    provider: 'anthropic',
    name: 'Claude Haiku 4.5',
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMillion: 1_000_000, outputPerMillion: 5_000_000, cachedInputPerMillion: 100_000 },
  },
  {
    id: 'claude-sonnet-4-5',
    provider: 'anthropic',
    name: 'Claude Sonnet 4.5',
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMillion: 3_000_000, outputPerMillion: 15_000_000, cachedInputPerMillion: 300_000 },
  },
  {
    id: 'claude-sonnet-4-0',
    provider: 'anthropic',
    name: 'Claude Sonnet 4',
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricing: { inputPerMillion: 3_000_000, outputPerMillion: 15_000_000, cachedInputPerMillion: 300_000 },
  },
  {
    id: 'claude-opus-4-1',
    provider: 'anthropic',
    name: 'Claude Opus 4.1',
    contextWindow: 200_000,
    maxOutputTokens: 32_000,
    pricing: { inputPerMillion: 15_000_000, outputPerMillion: 75_000_000, cachedInputPerMillion: 1_500_000 },
  },
  {
    id: 'claude-3-5-haiku-latest',
    provider: 'anthropic',
    name: 'Claude Haiku 3.5',
    contextWindow: 200_000,
    maxOutputTokens: 8_192,
    pricing: { inputPerMillion: 800_000, outputPerMillion: 4_000_000, cachedInputPerMillion: 80_000 },
  },
]);

export const defaultModelId = 'offline-small';

/** Whether a deployment configured for `providers` (absent: every one) can run the model; offline always can. */
export function isAvailable(model: CatalogModel, providers: ReadonlySet<string> | undefined): boolean {
  return model.provider === 'offline' || !providers || providers.has(model.provider);
}

interface ModelAnswers {
  all: readonly Model[];
  byProvider: ReadonlyMap<Provider, readonly Model[]>;
}

function modelAnswers(providers: ReadonlySet<string> | undefined): ModelAnswers {
  const all = frozen(models.map((model) => ({ ...model, available: isAvailable(model, providers) })));
  const byProvider = new Map<Provider, readonly Model[]>();
  for (const model of all) byProvider.set(model.provider, Object.freeze([...(byProvider.get(model.provider) ?? []), model]));
  return { all, byProvider };
}

const noModels: readonly Model[] = Object.freeze([]);
const everyProviderAnswers = modelAnswers(undefined);
// A deployment builds its providers set once, so the answers are computed once per set and served frozen.
const modelAnswersCache = new WeakMap<ReadonlySet<string>, ModelAnswers>();

function answersFor(providers: ReadonlySet<string> | undefined): ModelAnswers {
  if (!providers) return everyProviderAnswers;
  let answers = modelAnswersCache.get(providers);
  if (!answers) modelAnswersCache.set(providers, (answers = modelAnswers(providers)));
  return answers;
}

/** The models with their availability on a deployment configured for `providers` (absent: every provider). */
export function listModels(providers: ReadonlySet<string> | undefined, provider?: Provider): readonly Model[] {
  const answers = answersFor(providers);
  return provider ? (answers.byProvider.get(provider) ?? noModels) : answers.all;
}

export function findModel(id: string): CatalogModel | undefined {
  return models.find((m) => m.id === id);
}
