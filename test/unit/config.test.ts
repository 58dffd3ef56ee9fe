// Settings read from the environment: the browser origins CORS allows, and whether rate limits count; and the
// client address the Netlify adapter takes from the platform's header.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { handleWebRequest } from '../../src/http/adapters/web.js';
import type { HttpRequest } from '../../src/http/types.js';

describe('loadConfig', () => {
  it('reads CORS_ORIGINS as any origin by default, or the listed ones, and refuses what is not an origin', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173/' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: 'app.example.com' })).toThrow(/CORS_ORIGINS must list origins/);
  });

  it('counts requests against rate limits unless RATE_LIMITS=off', () => {
    expect(loadConfig({}).rateLimits).toBe(true);
    expect(loadConfig({ RATE_LIMITS: 'off' }).rateLimits).toBe(false);
  });
});

describe('the web adapter', () => {
  it("takes the client's address from Netlify's header", async () => {
    let seen: HttpRequest | undefined;
    const app = {
      handle: async (request: HttpRequest) => {
        seen = request;
        return { status: 204, headers: {}, body: '' };
      },
    };
    await handleWebRequest(app, new Request('https://example.com/v1/plans', { headers: { 'x-nf-client-connection-ip': '203.0.113.7' } }));
    expect(seen?.clientAddress).toBe('203.0.113.7');
  });
});
