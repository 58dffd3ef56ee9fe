// Exact money: prices are integer micro-dollars per million tokens, credits are US$0.0001 (100 micro-dollars).
// cost(credits) = ceil( Σ tokens × price / (1,000,000 tokens × 100 micro-dollars) ), in integers, rounded up once.
// A step's exact cost, Σ tokens × price, is a whole number of picodollars (10^-12 US$; 10^8 to a credit): a task
// sums its steps' exact costs and is charged that total rounded up once (settle_task_step_exact).
import type { Model } from './catalog.js';
import type { PartialCompletion, TokenUsage } from '../integrations/llm/provider.js';

const microDollarsPerCreditTimesMillion = 100n * 1_000_000n;

export function costInCredits(pricing: Model['pricing'], usage: TokenUsage): number {
  const total = exactCostInPicodollars(pricing, usage);
  const credits = (total + microDollarsPerCreditTimesMillion - 1n) / microDollarsPerCreditTimesMillion;
  return Number(credits);
}

/** The exact cost of `usage`, in picodollars: tokens × price per million tokens in micro-dollars. */
export function exactCostInPicodollars(pricing: Model['pricing'], usage: TokenUsage): bigint {
  for (const [name, value] of Object.entries(usage)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return (
    BigInt(usage.inputTokens) * BigInt(pricing.inputPerMillion) +
    BigInt(usage.outputTokens) * BigInt(pricing.outputPerMillion) +
    BigInt(usage.cachedInputTokens) * BigInt(pricing.cachedInputPerMillion)
  );
}

/**
 * The most a task can cost, reserved when it is created: no tokenizer makes more tokens than bytes, so the
 * prompt's UTF-8 length bounds its tokens (billed at the dearer input price), and the employee's output limit
 * bounds the rest.
 */
export function maximumCostInCredits(pricing: Model['pricing'], promptBytes: number, maxOutputTokens: number): number {
  return costInCredits(pricing, { inputTokens: promptBytes, outputTokens: maxOutputTokens, cachedInputTokens: 0 });
}

/** Tokens where a provider reported none: ceil(bytes / 4), about what tokenizers make of English text and code. */
export function estimatedTokens(bytes: number): number {
  return Math.ceil(bytes / 4);
}

/**
 * What a call that ended early (canceled, or past its deadline) consumed: the provider's counts where it reported
 * them (output only when reported after the last piece that streamed), else estimated from the prompt's bytes and
 * from what streamed, the output at most the step's limit. Undefined when the provider never accepted the request.
 */
export function consumedUsage(partial: PartialCompletion, promptBytes: number, maxOutputTokens: number): TokenUsage | undefined {
  if (!partial.accepted) return undefined;
  return {
    inputTokens: partial.usage.inputTokens ?? estimatedTokens(promptBytes),
    outputTokens: partial.usage.outputTokens ?? Math.min(maxOutputTokens, estimatedTokens(partial.outputBytes)),
    cachedInputTokens: partial.usage.inputTokens === undefined ? 0 : (partial.usage.cachedInputTokens ?? 0),
  };
}
