// @staffroom/sdk as an app gets it: built, packed, installed from the tarball into an empty project (nothing
// else: it has no dependencies), and used from plain JavaScript, against the real service and then, with only
// the base URL changed, against the Prism mock. Its type declarations must also stand alone.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { require, startPrismMock, type PrismMock } from '../support/processes.js';
import { pino } from 'pino';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWebhookDispatcher } from '../../src/services/webhook-dispatcher.js';
import { createWorker } from '../../src/services/worker.js';
import { signUp, startTestServer } from '../support/server.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const app = useTestApp();
let project: string;
let packed: { name: string; version: string; files: { path: string }[] };
let prism: PrismMock;
let prismUrl: string;

const script = `
import * as sdk from '@staffroom/sdk';
const { createStaffroomClient, unwrap, StaffroomError } = sdk;

const client = createStaffroomClient({ baseUrl: process.env.STAFFROOM_URL, accessToken: process.env.STAFFROOM_TOKEN });
const plans = await unwrap(client.GET('/v1/plans'));
console.log('plans:', plans.length > 0, plans.every((plan) => typeof plan.id === 'string'));
const me = await unwrap(client.GET('/v1/me'));
console.log('me:', me.profile.email);
const organization = await unwrap(client.POST('/v1/organizations', { body: { name: 'Packed Co' } }));
console.log('organization:', organization.name, /^[0-9a-f-]{36}$/.test(organization.id));
try {
  await unwrap(client.GET('/v1/organizations/{orgId}', { params: { path: { orgId: 'not-an-id' } } }));
  console.log('error: none');
} catch (error) {
  console.log('error:', error instanceof StaffroomError, error.status >= 400 && error.status < 500);
}
console.log('exports:', Object.keys(sdk).sort().join(','));
`;

beforeAll(async () => {
  await run('npm', ['run', 'build:sdk'], { cwd: root });
  project = mkdtempSync(join(tmpdir(), 'staffroom-sdk-app-'));
  const [pack] = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', project], { cwd: join(root, 'sdk') })).stdout) as [
    typeof packed & { filename: string },
  ];
  packed = pack;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--offline', join(project, pack.filename)], { cwd: project });
  writeFileSync(join(project, 'app.mjs'), script);

  prism = await startPrismMock();
  prismUrl = prism.url;
}, 180_000);
afterAll(async () => {
  await prism?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

async function runApp(env: Record<string, string>): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: project, env: { ...process.env, ...env } });
  return stdout.trim().split('\n');
}

const exportsLine = `exports: ${[
  'StaffroomError',
  'StaffroomNetworkError',
  'StaffroomTimeoutError',
  'WebhookVerificationError',
  'attempt',
  'createStaffroomClient',
  'importEmployee',
  'isFinalStatus',
  'listTeam',
  'paginate',
  'retryableCodes',
  'retrying',
  'streamTaskEvents',
  'unwrap',
  'verifyWebhook',
  'waitForTask',
].join(',')}`;

describe('the packed SDK', () => {
  it('is named and versioned as the contract, and ships only its build, with no dependencies', () => {
    const contract = JSON.parse(readFileSync(join(root, 'src/generated/openapi.json'), 'utf8')) as { info: { version: string } };
    expect(packed).toMatchObject({ name: '@staffroom/sdk', version: contract.info.version });
    expect(packed.files.map((file) => file.path).filter((path) => !path.startsWith('dist/'))).toEqual(['package.json']);
    expect(packed.files.map((file) => file.path)).toContain('dist/index.d.ts');
    const installed = JSON.parse(readFileSync(join(project, 'node_modules/@staffroom/sdk/package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(installed.dependencies).toBeUndefined();
    expect(readdirSync(join(project, 'node_modules')).filter((name) => !name.startsWith('.'))).toEqual(['@staffroom']);
    expect(readFileSync(join(project, 'node_modules/@staffroom/sdk/dist/index.js'), 'utf8')).not.toMatch(/\brequire\(|from ['"]node:/);
  });

  it('calls the real service from plain JavaScript', async () => {
    const user = await signUp(app.database.db, 'packed@example.com');
    const output = await runApp({ STAFFROOM_URL: app.server.baseUrl, STAFFROOM_TOKEN: user.token });
    expect(output).toEqual(['plans: true true', 'me: packed@example.com', 'organization: Packed Co true', 'error: true true', exportsLine]);
  });

  it('runs the same script against the Prism mock, only the base URL changed', async () => {
    const output = await runApp({ STAFFROOM_URL: prismUrl, STAFFROOM_TOKEN: 'mock-token' });
    expect(output).toHaveLength(5);
    expect(output[0]).toBe('plans: true true');
    expect(output[1]).toMatch(/^me: \S+@\S+$/);
    expect(output[2]).toMatch(/^organization: .+ true$/);
    expect(output[3]).toBe('error: true true');
    expect(output[4]).toBe(exportsLine);
  });

  it('types a TypeScript app from its own declarations alone', async () => {
    writeFileSync(
      join(project, 'typed.ts'),
      `import { createStaffroomClient, paginate, unwrap, type StaffroomError, type Task } from '@staffroom/sdk';
const client = createStaffroomClient({ baseUrl: 'http://127.0.0.1:3000', retries: 1 });
const plans = await unwrap(client.GET('/v1/plans'));
export const planId: string = plans[0]!.id;
export const status: Task['status'] = 'succeeded';
export const code = (error: StaffroomError) => error.code;
for await (const employee of paginate(client, '/v1/organizations/{orgId}/employees', { path: { orgId: 'x' } })) employee.slug.toUpperCase();
// @ts-expect-error a path the contract does not have
await client.GET('/v1/nowhere');
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['typed.ts'],
      }),
    );
    const tsc = await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project]).catch(
      (error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout}${error.stderr}` }),
    );
    expect(tsc.stdout).toBe('');
  });

  it("runs the first-five-minutes example: a task's events as they happen, then its signed webhook", { timeout: 60_000 }, async () => {
    // As `WEBHOOKS_ALLOW_PRIVATE_URLS=true npm start` with no provider keys: its workers run tasks and send webhooks.
    const server = await startTestServer({ db: app.database.db, allowPrivateWebhookUrls: true, providers: ['offline'] });
    const log = pino({ level: 'silent' });
    const worker = createWorker({ db: app.database.db, providers: { offline: createOfflineProvider() }, log, pollMs: 100 });
    const dispatcher = createWebhookDispatcher({ db: app.database.db, log, allowPrivate: true, pollMs: 100 });
    worker.start();
    dispatcher.start();
    try {
      copyFileSync(join(root, 'examples/follow-task.mjs'), join(project, 'follow-task.mjs'));
      const user = await signUp(app.database.db, 'five-minutes@example.com');
      const { stdout } = await run(process.execPath, ['follow-task.mjs'], {
        cwd: project,
        env: { ...process.env, STAFFROOM_URL: server.baseUrl, STAFFROOM_TOKEN: user.token },
      });
      const lines = stdout.trim().split('\n');
      expect(lines[0]).toBe('hired release-notes-writer on the organization default model');
      // The agent file's `model: sonnet` is not a model of the catalog: the import says so, and the example prints it.
      expect(lines[1]).toMatch(/^ {2}frontMatter\.model: /);
      const events = lines.filter((line) => line.startsWith('event ')).map((line) => line.split(' ')[2]);
      expect(events[0]).toBe('task.queued');
      expect(events[1]).toBe('task.running');
      expect(events.slice(2, -2).every((type) => type === 'task.output_delta')).toBe(true);
      expect(events.slice(-2)).toEqual(['task.step_completed', 'task.succeeded']);
      expect(lines.at(-1)).toMatch(/^webhook \S+ verified: task\.succeeded for task this one$/);
    } finally {
      await Promise.all([worker.stop(), dispatcher.stop()]);
      await server.close();
    }
  });
});
