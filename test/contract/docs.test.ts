// The Redoc page is self-contained (no script from a CDN) and describes every operation.
import { describe, expect, it } from 'vitest';
import { readDocs } from '../../src/docs.js';
import { contractOperations } from '../support/contract.js';

describe('the docs page', () => {
  it('inlines Redoc and the contract', async () => {
    const html = await readDocs();
    expect(html).toBeDefined();
    expect(html).not.toMatch(/<script[^>]+src=["']https?:/);
    expect(html).toContain('Staffroom API');
    for (const { operationId } of contractOperations()) expect(html).toContain(operationId);
  });
});
