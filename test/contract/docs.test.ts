// The Redoc page is self-contained (no script from a CDN) and describes every operation.
import { describe, expect, it } from 'vitest';
import { readDocs } from '../../src/docs.js';
import { contractOperations } from '../support/contract.js';

describe('the docs page', () => {
  it('inlines Redoc and the contract', async () => {
    const html = await readDocs();
    expect(html).toBeDefined();
    // Redoc's default page imports its bundle from the CDN in a module script, not a <script src>: look
    // for the bundle's URL itself, and for any script or preload that points off the page.
    expect(html).not.toMatch(/https:\/\/cdn\.redocly\.com\/redoc\/[^"' ]*\.js/);
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=["']https?:/);
    expect(html).toContain('Staffroom API');
    for (const { operationId } of contractOperations()) expect(html).toContain(operationId);
  });
});
