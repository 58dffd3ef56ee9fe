// The README's supabase-js snippet on the running Node version, as an app runs it (readme-supabase-app.ts, in a
// child process started as the README says: `node` on Node 22 and later, `node --experimental-websocket` on
// Node 20): created with no options, signed in through a local Supabase Auth stand-in, and used by the SDK
// against the real service. On Node 20 it also shows why the flag is there.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { startFakeSupabaseAuth, type FakeSupabaseAuth } from '../support/fake-supabase-auth.js';
import { require } from '../support/processes.js';
import { signUp } from '../support/server.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const snippet = 'test/sdk/readme-supabase-app.ts';
const nodeMajor = Number(process.versions.node.split('.')[0]);
/** What the README has an app start node with. */
const readmeNodeFlags = nodeMajor < 22 ? ['--experimental-websocket'] : [];
const password = 'correct horse battery staple';

const app = useTestApp();
let auth: FakeSupabaseAuth;
beforeAll(async () => {
  auth = await startFakeSupabaseAuth({ accessTokenSeconds: 60 });
});
afterAll(async () => {
  await auth?.close();
});

async function runSnippet(nodeFlags: string[], email: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const user = await signUp(app.database.db, email);
  auth.addUser({ id: user.id, email, password });
  return run(process.execPath, [...nodeFlags, '--import', 'tsx', snippet], {
    cwd: root,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      SUPABASE_URL: auth.url,
      SUPABASE_ANON_KEY: 'anon-key',
      STAFFROOM_URL: app.server.baseUrl,
      EMAIL: email,
      PASSWORD: password,
    },
    timeout: 60_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }),
  );
}

describe(`supabase-js on Node ${nodeMajor}, as the README has it`, () => {
  it('is the version the README names, which still declares Node 20', () => {
    const supabaseJs = JSON.parse(readFileSync(require.resolve('@supabase/supabase-js/package.json'), 'utf8')) as {
      version: string;
      engines: { node: string };
    };
    // 2.110.0 and later declare "node": ">=22.0.0"; the README's Node 20 section says which version to pin.
    expect(supabaseJs).toMatchObject({ version: '2.109.0', engines: { node: '>=20.0.0' } });
  });

  it(`runs the snippet with ${readmeNodeFlags.length ? `node ${readmeNodeFlags.join(' ')}` : 'plain node'}: createClient with no options, signed in, then the SDK`, async () => {
    const passwordGrants = auth.grants.password;
    const result = await runSnippet(readmeNodeFlags, 'readme-supabase@example.com');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ email: 'readme-supabase@example.com', organization: 'Acme', employees: 0 });
    expect(auth.grants.password).toBe(passwordGrants + 1);
  });

  it('needs no cast, transport or WebSocket package', () => {
    const source = readFileSync(resolve(root, snippet), 'utf8');
    expect(source).toContain('createClient(SUPABASE_URL, SUPABASE_ANON_KEY);');
    expect(source).not.toMatch(/\bas (never|unknown|any)\b|transport:|from 'ws'/);
  });

  it.runIf(nodeMajor < 22)(
    'fails at createClient on Node 20 without the flag: realtime-js wants a WebSocket when it is created',
    async () => {
      const result = await runSnippet([], 'readme-supabase-no-flag@example.com');
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`Node.js ${nodeMajor} detected without native WebSocket support`);
    },
  );
});
