// The zero-configuration provider: no model, no network. Deterministic output that says what it is, so
// nobody mistakes it for a model's answer, with usage estimated at four bytes a token.
import { createHash } from 'node:crypto';
import type { Completion, CompletionRequest, LlmProvider } from './provider.js';

const tokensOf = (text: string): number => Math.ceil(Buffer.byteLength(text, 'utf8') / 4);

export function createOfflineProvider(): LlmProvider {
  return {
    name: 'offline',
    async complete(request: CompletionRequest): Promise<Completion> {
      const digest = createHash('sha256').update(request.system).update('\0').update(request.input).digest('hex').slice(0, 12);
      const preview = request.input.replace(/\s+/g, ' ').trim().slice(0, 200);
      const output = [
        `[offline] No model was called: this is the offline provider's deterministic stand-in (${digest}).`,
        `Received ${request.input.length} characters of input and ${request.system.length} of instructions.`,
        `Input begins: "${preview}"`,
      ].join('\n');
      const outputTokens = Math.min(tokensOf(output), request.maxOutputTokens);
      return {
        provider: 'offline',
        model: request.model,
        output,
        usage: { inputTokens: tokensOf(request.system) + tokensOf(request.input), outputTokens, cachedInputTokens: 0 },
      };
    },
  };
}
