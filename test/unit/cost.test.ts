import { describe, expect, it } from 'vitest';
import { consumedUsage, costInCredits, maximumCostInCredits } from '../../src/services/cost.js';
import { findModel } from '../../src/services/catalog.js';

const gpt4oMini = { inputPerMillion: 150_000, outputPerMillion: 600_000, cachedInputPerMillion: 75_000 };

describe('costInCredits', () => {
  it.each([
    // 1,850 × 0.15 $/M + 240 × 0.60 $/M = 0.0002775 + 0.000144 = 0.0004215 $ = 4.215 credits → 5
    [{ inputTokens: 1_850, outputTokens: 240, cachedInputTokens: 0 }, 5],
    // 667 × 0.15 µ$ = 100.05 µ$ = 1.0005 credits → 2
    [{ inputTokens: 667, outputTokens: 0, cachedInputTokens: 0 }, 2],
    // 666 tokens × 0.15 = 99.9 µ$ → 0.999 credit → 1
    [{ inputTokens: 666, outputTokens: 0, cachedInputTokens: 0 }, 1],
    // nothing used costs nothing
    [{ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 }, 0],
    // 1M cached tokens × 0.075 $ = 0.075 $ = 750 credits exactly
    [{ inputTokens: 0, outputTokens: 0, cachedInputTokens: 1_000_000 }, 750],
    // 1M each: 0.15 + 0.60 + 0.075 = 0.825 $ = 8,250 credits exactly
    [{ inputTokens: 1_000_000, outputTokens: 1_000_000, cachedInputTokens: 1_000_000 }, 8_250],
    // a single output token: 0.6 µ$ → rounds up to 1 credit
    [{ inputTokens: 0, outputTokens: 1, cachedInputTokens: 0 }, 1],
  ])('%o costs %i credits', (usage, credits) => {
    expect(costInCredits(gpt4oMini, usage)).toBe(credits);
  });

  it('stays exact where floating point would drift', () => {
    const sonnet = findModel('claude-sonnet-4-5')!.pricing;
    // 3 $/M × 333,333 = 0.999999 $ and 15 $/M × 66,667 = 1.000005 $: 2.000004 $ = 20,000.04 credits → 20,001
    expect(costInCredits(sonnet, { inputTokens: 333_333, outputTokens: 66_667, cachedInputTokens: 0 })).toBe(20_001);
    // far past 2^53 micro-dollar-tokens, still exact
    expect(costInCredits(sonnet, { inputTokens: 9_000_000_000, outputTokens: 0, cachedInputTokens: 0 })).toBe(270_000_000);
  });

  it('refuses negative or fractional token counts', () => {
    expect(() => costInCredits(gpt4oMini, { inputTokens: -1, outputTokens: 0, cachedInputTokens: 0 })).toThrow(RangeError);
    expect(() => costInCredits(gpt4oMini, { inputTokens: 1.5, outputTokens: 0, cachedInputTokens: 0 })).toThrow(RangeError);
  });
});

describe('maximumCostInCredits', () => {
  it('bounds input tokens by bytes and output by the limit', () => {
    // 10,000 bytes × 0.15 + 4,096 × 0.60 = 1,500 + 2,457.6 µ$ = 3,957.6 µ$ → 39.576 credits → 40
    expect(maximumCostInCredits(gpt4oMini, 10_000, 4_096)).toBe(40);
  });
});

describe('consumedUsage', () => {
  const partial = (usage: Parameters<typeof consumedUsage>[0]['usage'], outputBytes = 0, accepted = true) => ({
    accepted,
    output: 'x'.repeat(outputBytes),
    outputBytes,
    usage,
  });

  it.each([
    // nothing reported: ceil(bytes / 4) for both the prompt and what streamed
    [partial({}, 41), { inputTokens: 250, outputTokens: 11, cachedInputTokens: 0 }],
    // the provider's counts where it gave them, the estimate for the rest
    [partial({ inputTokens: 900, cachedInputTokens: 100 }, 8), { inputTokens: 900, outputTokens: 2, cachedInputTokens: 100 }],
    [
      partial({ inputTokens: 900, cachedInputTokens: 0, outputTokens: 37 }, 400),
      { inputTokens: 900, outputTokens: 37, cachedInputTokens: 0 },
    ],
    // accepted, nothing streamed: the prompt alone
    [partial({}, 0), { inputTokens: 250, outputTokens: 0, cachedInputTokens: 0 }],
    // an estimate never passes the step's output limit
    [partial({}, 100_000), { inputTokens: 250, outputTokens: 1_024, cachedInputTokens: 0 }],
  ])('%o consumed %o', (consumed, usage) => {
    expect(consumedUsage(consumed, 1_000, 1_024)).toEqual(usage);
  });

  it('is nothing when the provider never accepted the request', () => {
    expect(consumedUsage(partial({}, 0, false), 1_000, 1_024)).toBeUndefined();
  });
});
