// The Redoc page is self-contained (no script from a CDN) and describes every operation.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { fixRedocPage, readDocs } from '../../src/docs.js';
import { docsContentSecurityPolicy } from '../../src/http/responses.js';
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

  it('fetches nothing from elsewhere, has a favicon, and prerenders its links as it routes them', async () => {
    const html = (await readDocs())!;
    expect(html).not.toMatch(/https:\/\/cdn\.redoc\.ly\//);
    expect(html).toMatch(/<link rel="icon" type="image\/svg\+xml" href="data:image\/svg\+xml,/);
    expect(html).toContain('href="#/tasks" data-discover="true"');
    expect(html).not.toMatch(/ href="\/[^"]*" data-discover="true"/);
  });

  it('refuses to build a page whose markup the fixes no longer find', () => {
    expect(() => fixRedocPage('<html><a href="/tasks">Tasks</a></html>')).toThrow(/no prerendered router link/);
  });

  it("is served under a policy that lets exactly the page's own inline scripts run", async () => {
    const html = (await readDocs())!;
    const policy = docsContentSecurityPolicy(html);
    // The page's scripts are the top-level <script> elements; `<script>` text inside them is code, not markup.
    const scripts: string[] = [];
    let at = 0;
    for (;;) {
      const open = html.indexOf('<script', at);
      if (open === -1) break;
      const start = html.indexOf('>', open) + 1;
      const end = html.indexOf('</script>', start);
      scripts.push(html.slice(start, end));
      at = end + '</script>'.length;
    }
    expect(scripts.length).toBeGreaterThan(0);
    const allowed = [...policy.matchAll(/'sha256-([^']+)'/g)].map((m) => m[1]);
    expect(allowed.sort()).toEqual(scripts.map((text) => createHash('sha256').update(text).digest('base64')).sort());
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
  });
});
