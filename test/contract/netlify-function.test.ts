// The built Netlify bundle (dist/functions/api.mjs, made by `npm run build:functions` before the tests)
// answers like the local server: same core, another adapter.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { contractProblems } from '../support/contract.js';

const bundle = resolve(import.meta.dirname, '../../dist/functions/api.mjs');
let handler: (request: Request) => Promise<Response>;

beforeAll(async () => {
  if (!existsSync(bundle)) throw new Error('dist/functions/api.mjs is missing: run `npm run build:functions`.');
  handler = ((await import(pathToFileURL(bundle).href)) as { default: typeof handler }).default;
});

describe('the Netlify function bundle', () => {
  it('answers /v1/health', async () => {
    const response = await handler(new Request('https://staffroom.example.com/v1/health'));
    const body = (await response.json()) as { success: boolean; data: { status: string } };
    expect(response.status).toBe(200);
    expect(body.data.status).toBe('ok');
    expect(contractProblems('/v1/health', 'GET', 200, response.headers, body)).toEqual([]);
  });

  it('answers a path rewritten to the function by netlify.toml', async () => {
    const response = await handler(new Request('https://staffroom.example.com/.netlify/functions/api/v1/plans'));
    expect(response.status).toBe(200);
  });

  it('answers an unknown route with the 404 envelope', async () => {
    const response = await handler(new Request('https://staffroom.example.com/v1/nope'));
    const body = (await response.json()) as { success: boolean; error: { code: string } };
    expect(response.status).toBe(404);
    expect(body).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers malformed JSON with 400, not 500', async () => {
    const response = await handler(
      new Request('https://staffroom.example.com/v1/organizations', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{',
      }),
    );
    expect(response.status).toBe(400);
  });
});
