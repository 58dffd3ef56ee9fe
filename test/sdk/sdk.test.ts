// The SDK against the real app: Supabase sign-in and token refresh, typed errors, Idempotency-Keys and retries,
// pagination, agent-file import and webhook verification.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SupabaseClient } from '@supabase/supabase-js';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStaffroomClient,
  importEmployee,
  paginate,
  retryableCodes,
  retrying,
  StaffroomError,
  StaffroomNetworkError,
  StaffroomTimeoutError,
  unwrap,
  verifyWebhook,
  WebhookVerificationError,
  type StaffroomClientOptions,
} from '../../sdk/index.js';
import { contract } from '../../src/http/contract.js';
import { useTestApp } from '../support/app.js';
import { inProcessSupabase } from '../support/supabase-client.js';
import { startFakeSupabaseAuth, type FakeSupabaseAuth } from '../support/fake-supabase-auth.js';
import { freePort } from '../support/processes.js';
import { signUp, withContractCheck, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let orgId: string;

beforeAll(async () => {
  owner = await signUp(app.database.db, 'sdk-owner@example.com');
  orgId = (await unwrap(sdk({ accessToken: owner.token }).POST('/v1/organizations', { body: { name: 'SDK' } }))).id;
  await app.database.db`update staffroom.organizations set plan_id = 'pro' where id = ${orgId}`; // room for employees
});

const sdk = (options: Omit<StaffroomClientOptions, 'baseUrl'> = {}) =>
  withContractCheck(createStaffroomClient({ baseUrl: app.server.baseUrl, ...options }));

/** A fetch that records the requests the SDK sends, attempts included. */
function recordingFetch(through: (request: Request) => Promise<Response> = (request) => fetch(request)) {
  const sent: Request[] = [];
  return {
    sent,
    fetch: async (request: Request) => {
      sent.push(request.clone());
      return through(request);
    },
  };
}

/** supabase-js signed in through the fake Auth server. */
async function signedIn(auth: FakeSupabaseAuth, user: TestUser): Promise<SupabaseClient> {
  auth.addUser({ id: user.id, email: user.email, password: 'correct horse battery staple' });
  const supabase = inProcessSupabase(auth.url);
  const { error } = await supabase.auth.signInWithPassword({ email: user.email, password: 'correct horse battery staple' });
  expect(error).toBeNull();
  return supabase;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const bearer = (request: Request) => request.headers.get('authorization');
// The service accepts a token up to 5 seconds past its `exp` (clock skew); a token of 1 second is refused after this.
const pastExpiryMs = 1_000 + 5_000 + 750;

describe('a supabase-js session', () => {
  let auth: FakeSupabaseAuth;
  let skewed: FakeSupabaseAuth;
  beforeAll(async () => {
    auth = await startFakeSupabaseAuth({ accessTokenSeconds: 2 });
    skewed = await startFakeSupabaseAuth({ accessTokenSeconds: 1, announcedSeconds: 3_600 });
  });
  afterAll(async () => {
    await auth?.close();
    await skewed?.close();
  });

  it('sends the current access token, which supabase-js refreshes as it expires', async () => {
    const user = await signUp(app.database.db, 'sdk-supabase@example.com');
    const supabase = await signedIn(auth, user);
    const recorder = recordingFetch();
    const client = sdk({ supabase, fetch: recorder.fetch });
    expect((await unwrap(client.GET('/v1/me'))).profile.email).toBe(user.email);
    const first = bearer(recorder.sent[0]!);
    await sleep(2_500);
    expect((await unwrap(client.GET('/v1/me'))).profile.email).toBe(user.email);
    expect(auth.grants.refresh_token).toBeGreaterThanOrEqual(1);
    expect(bearer(recorder.sent.at(-1)!)).not.toBe(first);
    expect(recorder.sent.every((request) => request.headers.get('authorization')?.startsWith('Bearer '))).toBe(true);
    await supabase.auth.signOut();
  });

  it('refreshes the session once and sends the request again when the service says TOKEN_EXPIRED', { timeout: 20_000 }, async () => {
    const user = await signUp(app.database.db, 'sdk-skewed@example.com');
    const supabase = await signedIn(skewed, user);
    const statuses: number[] = [];
    const recorder = recordingFetch(async (request) => {
      const response = await fetch(request);
      statuses.push(response.status);
      return response;
    });
    const client = sdk({ supabase, fetch: recorder.fetch });
    expect((await unwrap(client.GET('/v1/me'))).profile.email).toBe(user.email);
    // supabase-js believes its token good for an hour; the service finds it expired.
    await sleep(pastExpiryMs);
    expect((await unwrap(client.GET('/v1/me'))).profile.email).toBe(user.email);
    expect(statuses).toEqual([200, 401, 200]);
    expect(skewed.grants.refresh_token).toBe(1);
    expect(bearer(recorder.sent[2]!)).not.toBe(bearer(recorder.sent[1]!));
    expect(bearer(recorder.sent[2]!)).toBe(`Bearer ${(await supabase.auth.getSession()).data.session?.access_token}`);
  });
});

describe('errors', () => {
  it('throws StaffroomError with the contract code, status, message and request id', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const error = await unwrap(
      sdk({ accessToken: owner.token }).GET('/v1/organizations/{orgId}', { params: { path: { orgId: missing } } }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StaffroomError);
    const failure = error as StaffroomError;
    expect(failure).toMatchObject({ name: 'StaffroomError', code: 'NOT_FOUND', status: 404 });
    expect(failure.message).toMatch(/\w/);
    expect(failure.requestId).toBe(failure.response?.headers.get('x-request-id'));
    expect(failure.requestId).toBeTruthy();
  });

  it('names the fields of a validation error in details', async () => {
    const error = (await unwrap(sdk({ accessToken: owner.token }).POST('/v1/organizations', { body: { name: '' } })).catch(
      (e: unknown) => e,
    )) as StaffroomError;
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', status: 400 });
    expect(error.details?.map((d) => d.field)).toContain('body.name');
  });

  it('keeps the plain { data, error, response } style', async () => {
    const { data, error, response } = await sdk({ accessToken: owner.token }).GET('/v1/me');
    expect(response.status).toBe(200);
    expect(error).toBeUndefined();
    expect(data?.data.profile.email).toBe(owner.email);
  });

  it('throws StaffroomNetworkError when nothing listens, after retrying a GET', async () => {
    const recorder = recordingFetch();
    const client = createStaffroomClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, retries: 1, fetch: recorder.fetch });
    const error = await client.GET('/v1/plans').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaffroomNetworkError);
    expect(error).not.toBeInstanceOf(StaffroomTimeoutError);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    expect(recorder.sent).toHaveLength(2);
  });

  it('throws StaffroomTimeoutError when no answer comes within timeoutMs', async () => {
    const silent = await listen(() => undefined);
    try {
      const client = createStaffroomClient({ baseUrl: silent.url, retries: 0, timeoutMs: 200 });
      const started = Date.now();
      await expect(client.GET('/v1/plans')).rejects.toBeInstanceOf(StaffroomTimeoutError);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await silent.close();
    }
  });
});

describe('Idempotency-Key and retries', () => {
  it('gives a POST that declares the header a key, and a retry after a lost answer acts once', async () => {
    let dropped = 0;
    const recorder = recordingFetch(async (request) => {
      const response = await fetch(request);
      // The service acted, then the connection broke before the answer arrived.
      if (dropped++ === 0) throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
      return response;
    });
    const client = sdk({ accessToken: owner.token, fetch: recorder.fetch });
    const name = `Retried ${Date.now()}`;
    const { data, response } = await client.POST('/v1/organizations', { body: { name } });
    expect(response.status).toBe(201);
    expect(response.headers.get('idempotent-replayed')).toBe('true');
    const keys = recorder.sent.map((request) => request.headers.get('idempotency-key'));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keys[1]).toBe(keys[0]);
    const all = [];
    for await (const org of paginate(client, '/v1/organizations', { query: { limit: 100 } })) all.push(org);
    expect(all.filter((org) => org.name === name).map((org) => org.id)).toEqual([data!.data.id]);
  });

  it('keeps a key the caller chose, and sends none where the contract declares none', async () => {
    const recorder = recordingFetch();
    const client = sdk({ accessToken: owner.token, fetch: recorder.fetch });
    await client.POST('/v1/organizations', { body: { name: 'Keyed by hand' }, params: { header: { 'Idempotency-Key': 'my-own-key-1' } } });
    await client.POST('/v1/organizations/{orgId}/restore', { params: { path: { orgId } } });
    expect(recorder.sent.map((r) => r.headers.get('idempotency-key'))).toEqual(['my-own-key-1', null]);
  });

  it('waits as Retry-After says on 503, then succeeds', async () => {
    let calls = 0;
    const flaky = await listen((_req, res) => {
      if (calls++ === 0) {
        res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1', 'X-Request-Id': 'req_1' });
        return void res.end(JSON.stringify({ success: false, error: { code: 'UNAVAILABLE', message: 'Busy.', requestId: 'req_1' } }));
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ success: true, data: [] }));
    });
    try {
      const started = Date.now();
      const plans = await unwrap(createStaffroomClient({ baseUrl: flaky.url }).GET('/v1/plans'));
      expect(plans).toEqual([]);
      expect(calls).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    } finally {
      await flaky.close();
    }
  });

  it('never retries a POST without a key, nor a 500', async () => {
    let calls = 0;
    const failing = await listen((req, res) => {
      calls++;
      const status = req.method === 'POST' ? 503 : 500;
      res.writeHead(status, { 'Content-Type': 'application/json', 'Retry-After': '0' });
      res.end(
        JSON.stringify({ success: false, error: { code: status === 503 ? 'UNAVAILABLE' : 'INTERNAL', message: 'No.', requestId: 'r' } }),
      );
    });
    try {
      const client = createStaffroomClient({ baseUrl: failing.url, accessToken: 'token' });
      const task = { orgId, taskId: '00000000-0000-4000-8000-000000000000' };
      const cancel = await client.POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: task } });
      expect(cancel.response.status).toBe(503);
      expect(calls).toBe(1);
      const error = (await unwrap(client.GET('/v1/plans')).catch((e: unknown) => e)) as StaffroomError;
      expect(error).toMatchObject({ code: 'INTERNAL', status: 500 });
      expect(calls).toBe(2);
    } finally {
      await failing.close();
    }
  });
});

describe('the retry policy', () => {
  /** A server answering `answers` in turn (the last one again), counting the requests. */
  async function answering(...answers: { status: number; code?: string; retryAfter?: string; html?: boolean }[]) {
    let calls = 0;
    const server = await listen((_req, res) => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!;
      const headers: Record<string, string> = { 'Content-Type': answer.html ? 'text/html' : 'application/json', 'X-Request-Id': 'req_1' };
      if (answer.retryAfter) headers['Retry-After'] = answer.retryAfter;
      res.writeHead(answer.status, headers);
      if (answer.html) return void res.end('<html>Bad gateway</html>');
      if (answer.status < 400) return void res.end(JSON.stringify({ success: true, data: [] }));
      res.end(JSON.stringify({ success: false, error: { code: answer.code, message: 'No.', requestId: 'req_1' } }));
    });
    return { ...server, calls: () => calls };
  }
  const task = { orgId: '00000000-0000-4000-8000-000000000001' };
  const createTask = (client: ReturnType<typeof createStaffroomClient>, options = {}) =>
    client.POST('/v1/organizations/{orgId}/tasks', { params: { path: task }, body: { employeeId: task.orgId, input: 'Go.' }, ...options });

  it('answers TASK_LIMIT_REACHED and PAYMENT_REQUIRED at once: waiting does not clear them', async () => {
    for (const [status, code] of [
      [429, 'TASK_LIMIT_REACHED'],
      [402, 'PAYMENT_REQUIRED'],
      [409, 'PLAN_LIMIT_REACHED'],
    ] as const) {
      const server = await answering({ status, code, retryAfter: '0' }, { status: 202 });
      try {
        const { response } = await createTask(createStaffroomClient({ baseUrl: server.url, accessToken: 'token' }));
        expect(response.status, code).toBe(status);
        expect(server.calls(), code).toBe(1);
      } finally {
        await server.close();
      }
    }
  });

  it('retries RATE_LIMITED, UNAVAILABLE, CONCURRENT_UPDATE and a proxy page, as Retry-After says', async () => {
    for (const first of [
      { status: 429, code: 'RATE_LIMITED', retryAfter: '0' },
      { status: 503, code: 'UNAVAILABLE' },
      { status: 409, code: 'CONCURRENT_UPDATE' },
      { status: 502, html: true },
    ]) {
      const server = await answering(first, { status: 200 });
      try {
        expect(await unwrap(createStaffroomClient({ baseUrl: server.url }).GET('/v1/plans'))).toEqual([]);
        expect(server.calls(), JSON.stringify(first)).toBe(2);
      } finally {
        await server.close();
      }
    }
  });

  it('does not wait for a Retry-After longer than what is left of maxRetryWaitMs', async () => {
    const server = await answering({ status: 429, code: 'RATE_LIMITED', retryAfter: '30' }, { status: 200 });
    try {
      const error = (await unwrap(createStaffroomClient({ baseUrl: server.url }).GET('/v1/plans')).catch(
        (e: unknown) => e,
      )) as StaffroomError;
      expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
      expect(server.calls()).toBe(1);
      const patient = createStaffroomClient({ baseUrl: server.url, maxRetryWaitMs: 0 });
      await patient.GET('/v1/plans');
      expect(server.calls()).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('takes another policy for one call with retrying()', async () => {
    const server = await answering({ status: 503, code: 'UNAVAILABLE', retryAfter: '0' });
    try {
      const client = createStaffroomClient({ baseUrl: server.url, accessToken: 'token' });
      expect((await createTask(client, retrying(client, { retries: 0 }))).response.status).toBe(503);
      expect(server.calls()).toBe(1);
      expect((await createTask(client, retrying(client, { retries: 4 }))).response.status).toBe(503);
      expect(server.calls()).toBe(1 + 5);
      // The call's own Idempotency-Key went with each of its attempts.
      expect((await client.GET('/v1/plans')).response.status).toBe(503);
      expect(server.calls()).toBe(1 + 5 + 3);
    } finally {
      await server.close();
    }
  });

  it('marks as retryable exactly the codes the contract marks', () => {
    const errorCode = (contract.components!.schemas as Record<string, { 'x-retryable'?: string[] }>).ErrorCode!;
    expect([...retryableCodes].sort()).toEqual([...errorCode['x-retryable']!].sort());
  });
});

describe('helpers', () => {
  it('paginates over every employee, page after page', async () => {
    const recorder = recordingFetch();
    const client = sdk({ accessToken: owner.token, fetch: recorder.fetch });
    const hired: string[] = [];
    for (let i = 1; i <= 5; i++) {
      hired.push(
        (
          await unwrap(
            client.POST('/v1/organizations/{orgId}/employees', {
              params: { path: { orgId } },
              body: { name: `Paged ${i}`, instructions: 'Work.' },
            }),
          )
        ).id,
      );
    }
    recorder.sent.length = 0;
    const seen: string[] = [];
    for await (const employee of paginate(client, '/v1/organizations/{orgId}/employees', {
      path: { orgId },
      query: { limit: 2, q: 'Paged' },
    })) {
      seen.push(employee.id);
    }
    expect(seen.sort()).toEqual(hired.sort());
    expect(recorder.sent).toHaveLength(3);
    expect(new URL(recorder.sent[1]!.url).searchParams.get('cursor')).toBeTruthy();
  });

  it('imports an agent file as Markdown', async () => {
    const markdown = '---\nname: release-writer\ndescription: Writes release notes.\ntools: Read, Grep\n---\nWrite the release notes.\n';
    const recorder = recordingFetch();
    const { employee, warnings } = await importEmployee(sdk({ accessToken: owner.token, fetch: recorder.fetch }), orgId, markdown);
    expect(employee).toMatchObject({ slug: 'release-writer', description: 'Writes release notes.', tools: ['Read', 'Grep'] });
    expect(warnings).toEqual([]);
    expect(recorder.sent[0]!.headers.get('content-type')).toBe('text/markdown');
    expect(await recorder.sent[0]!.text()).toBe(markdown);

    const again = await importEmployee(sdk({ accessToken: owner.token }), orgId, markdown).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'SLUG_TAKEN', status: 409 });
    const updated = await importEmployee(sdk({ accessToken: owner.token }), orgId, markdown.replace('Writes', 'Drafts'), {
      overwrite: true,
    });
    expect(updated.employee).toMatchObject({ id: employee.id, description: 'Drafts release notes.' });

    // What the file asked for and did not get is said, not dropped: an unknown model becomes the default.
    const guessed = await importEmployee(
      sdk({ accessToken: owner.token }),
      orgId,
      markdown.replace('release-writer', 'model-guesser').replace('tools:', 'model: not-a-model\ntools:'),
    );
    expect(guessed.employee.model).toBeNull();
    expect(guessed.warnings.map((warning) => warning.field)).toContain('frontMatter.model');
  });
});

describe('verifyWebhook', () => {
  const secret = `whsec_${Buffer.from('a secret of thirty-two bytes....').toString('base64')}`;
  const payload = {
    type: 'task.succeeded',
    timestamp: '2026-11-25T09:30:03.870Z',
    data: {
      id: '1843',
      type: 'task.succeeded',
      organizationId: '3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13',
      taskId: '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918',
      createdAt: '2026-11-25T09:30:03.870Z',
      data: { id: '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918', status: 'succeeded' },
    },
  };
  const signed = (body: string, at = new Date()) => ({
    'webhook-id': 'msg_2f1c9a52d7e24b8a9c412f6d8e0b7a13',
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign('msg_2f1c9a52d7e24b8a9c412f6d8e0b7a13', at, body),
  });

  it('returns the payload of a body signed with the endpoint secret', () => {
    const body = JSON.stringify(payload);
    expect(verifyWebhook(secret, signed(body), body)).toEqual(payload);
    expect(verifyWebhook(secret, new Headers(signed(body)), new TextEncoder().encode(body))).toEqual(payload);
  });

  it('rejects a tampered body, another secret and a timestamp older than 5 minutes', () => {
    const body = JSON.stringify(payload);
    const headers = signed(body);
    expect(() => verifyWebhook(secret, headers, body.replace('succeeded', 'failed'))).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(`whsec_${Buffer.from('another secret').toString('base64')}`, headers, body)).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(secret, signed(body, new Date(Date.now() - 6 * 60_000)), body)).toThrow(/too old/);
    expect(() => verifyWebhook(secret, {}, body)).toThrow(WebhookVerificationError);
  });
});

/** A local HTTP server answering with `handle`, for answers the real app does not give on demand. */
async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handle).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
