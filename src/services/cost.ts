// Exact money: prices are integer micro-dollars per million tokens, credits are US$0.0001 (100 micro-dollars).
// cost(credits) = ceil( Σ tokens × price / (1,000,000 tokens × 100 micro-dollars) ), in integers, rounded up once.
import type { Model } from './catalog.js';
import type { TokenUsage } from '../integrations/llm/provider.js';

const microDollarsPerCreditTimesMillion = 100n * 1_000_000n;

export function costInCredits(pricing: Model['pricing'], usage: TokenUsage): number {
  for (const [name, value] of Object.entries(usage)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  const total =
    BigInt(usage.inputTokens) * BigInt(pricing.inputPerMillion) +
    BigInt(usage.outputTokens) * BigInt(pricing.outputPerMillion) +
    BigInt(usage.cachedInputTokens) * BigInt(pricing.cachedInputPerMillion);
  const credits = (total + microDollarsPerCreditTimesMillion - 1n) / microDollarsPerCreditTimesMillion;
  return Number(credits);
}

/**
 * The most a task can cost, reserved when it is created: no tokenizer makes more tokens than bytes, so the
 * prompt's UTF-8 length bounds its tokens (billed at the dearer input price), and the employee's output limit
 * bounds the rest.
 */
export function maximumCostInCredits(pricing: Model['pricing'], promptBytes: number, maxOutputTokens: number): number {
  return costInCredits(pricing, { inputTokens: promptBytes, outputTokens: maxOutputTokens, cachedInputTokens: 0 });
}
