// The built Netlify bundle (dist/functions/api.mjs, made by `npm run build:functions` before the tests)
// answers like the local server: same core, another adapter.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { contractProblems } from '../support/contract.js';
import { useTestApp } from '../support/app.js';
import { localIssuer } from '../../src/services/identity.js';
import { signUp, testJwtSecret } from '../support/server.js';

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

describe('the Netlify worker bundles', () => {
  const app = useTestApp();

  it('run queued tasks from the scheduled sweep and the background function', async () => {
    const user = await signUp(app.database.db, 'netlify@example.com');
    const client = app.server.client({ accessToken: user.token });
    const orgId = (await client.POST('/v1/organizations', { body: { name: 'Netlify' } })).data!.data.id;
    const employeeId = (
      await client.POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: 'Edge', instructions: 'Be brief.' },
      })
    ).data!.data.id;
    const queue = async () =>
      (await client.POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: 'Hello' } })).data!
        .data.id;
    const status = async (taskId: string) =>
      (await client.GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId } } })).data!.data.status;
    const finished: string[] = [];
    process.env.DATABASE_URL = app.database.url;
    process.env.LOG_LEVEL = 'silent';
    try {
      for (const name of ['task-sweep', 'task-worker-background']) {
        const taskId = await queue();
        const fn = (
          (await import(pathToFileURL(resolve(import.meta.dirname, `../../dist/functions/${name}.mjs`)).href)) as {
            default: () => Promise<Response>;
          }
        ).default;
        const response = await fn();
        expect(((await response.json()) as { finished: number }).finished).toBe(1);
        expect(await status(taskId)).toBe('succeeded');
        finished.push(taskId);
      }

      // The API function streams a task's events as a web Response (a fresh instance, configured for this database).
      process.env.SUPABASE_JWT_SECRET = testJwtSecret;
      process.env.SUPABASE_JWT_ISSUER = localIssuer;
      const api = ((await import(`${pathToFileURL(bundle).href}?events`)) as { default: typeof handler }).default;
      const stream = await api(
        new Request(`https://staffroom.example.com/v1/organizations/${orgId}/tasks/${finished[0]}/events`, {
          headers: { Authorization: `Bearer ${user.token}` },
        }),
      );
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const text = await stream.text(); // the task has finished: the stream ends after its last event
      expect(text.startsWith('retry: 2000\n\n')).toBe(true);
      expect([...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])).toEqual([
        'task.queued',
        'task.running',
        'task.output_delta',
        'task.step_completed',
        'task.succeeded',
      ]);
    } finally {
      delete process.env.DATABASE_URL;
      delete process.env.SUPABASE_JWT_SECRET;
      delete process.env.SUPABASE_JWT_ISSUER;
    }
  });
});
