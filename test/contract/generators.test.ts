// Clients generated from the contract by the generators frontend teams use, pinned to versions that run on
// Node 20 (openapi-typescript 7.13 with openapi-fetch, @hey-api/openapi-ts 0.95, orval 7.13), each driving a
// small strict TypeScript app (test/fixtures/generators/) through the first five minutes against the real
// service: sign in, an organization, an imported employee (and a batch of two), a task, and its events, each
// event typed by the contract's `Event` union (a type narrows `data`, or the app does not compile).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWorker, type Worker } from '../../src/services/worker.js';
import type { Report } from '../fixtures/generators/shared.js';
import { useTestApp } from '../support/app.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const fixtures = join(root, 'test/fixtures/generators');
// As `npm start` with no provider keys: local sign-in, and tasks run by the offline provider.
const app = useTestApp({ localAuth: true, providers: ['offline'] });
const generators = ['openapi-typescript', 'hey-api', 'orval'] as const;
let project: string;
let worker: Worker;

/** Runs a command in the project, failing with what it printed. */
async function inProject(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, args, {
      cwd: project,
      env: { ...process.env, STAFFROOM_URL: app.server.baseUrl, NO_COLOR: '1' },
      timeout: 60_000,
    });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`node ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }
}

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'staffroom-generators-'));
  symlinkSync(join(root, 'node_modules'), join(project, 'node_modules'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'generated-apps', private: true, type: 'module' }));
  // Before hey-api runs: it reads tsconfig.json to decide how its files import each other.
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023', 'DOM', 'DOM.Iterable', 'DOM.AsyncIterable'],
        types: ['node'],
        strict: true,
        skipLibCheck: true,
        rootDir: '.',
        outDir: 'out',
      },
      include: ['*.ts', ...generators],
    }),
  );
  copyFileSync(join(root, 'src/generated/openapi.json'), join(project, 'openapi.json'));
  for (const name of readdirSync(fixtures)) copyFileSync(join(fixtures, name), join(project, name));
  await Promise.all([
    inProject([join(root, 'node_modules/openapi-typescript/bin/cli.js'), 'openapi.json', '-o', 'openapi-typescript/api.ts']),
    inProject([join(root, 'node_modules/@hey-api/openapi-ts/bin/run.js'), '-f', 'hey-api.config.mjs']),
    inProject(['orval.mjs']),
  ]);
  worker = createWorker({
    db: app.database.db,
    providers: { offline: createOfflineProvider() },
    log: pino({ level: 'silent' }),
    pollMs: 100,
  });
  worker.start();
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('clients generated from the contract', () => {
  it('name no type after a global (the error body is ErrorBody, not Error)', () => {
    const sources = [
      readFileSync(join(project, 'openapi-typescript/api.ts'), 'utf8'),
      readFileSync(join(project, 'hey-api/types.gen.ts'), 'utf8'),
      readFileSync(join(project, 'orval/api.ts'), 'utf8'),
    ];
    for (const source of sources) {
      expect(source).not.toMatch(/export (type|interface) Error\b|^\s+Error: \{/m);
      expect(source).toMatch(/ErrorBody/);
    }
  });

  let compiled: Promise<string> | undefined;
  const compile = () =>
    (compiled ??= inProject([join(root, 'node_modules/typescript/bin/tsc'), '-p', '.']).catch((error: Error) => `${error.message}`));

  it('compile, with each strict app', { timeout: 60_000 }, async () => {
    expect(await compile()).toBe('');
  });

  it.each(generators)('%s: runs the first five minutes against the service', { timeout: 60_000 }, async (generator) => {
    expect(await compile()).toBe('');
    const lines = (await inProject([`out/${generator}.js`])).trim().split('\n');
    const result = JSON.parse(lines.at(-1)!) as Report;
    expect(result).toMatchObject({
      generator,
      organization: `${generator} Co`,
      employee: 'code-reviewer',
      batch: [201, 201],
      task: 'queued',
      steps: 1,
    });
    expect(result.events[0]).toBe('task.queued');
    expect(result.events).toContain('task.running');
    expect(result.events.slice(-2)).toEqual(['task.step_completed', 'task.succeeded']);
    // The text deltas, read through the union's narrowing, add up to the task's output.
    expect(result.output).not.toBe('');
    expect(result.deltas).toBe(result.output);
  });
});
