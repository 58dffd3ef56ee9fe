// `npm run runner` end to end: a real `npm start` on its own data dir, an agent file imported by the runner, a
// task whose tool calls run on a temp folder, and the answer quoting what they read.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, stopChildProcess } from '../support/processes.js';
import { freePort } from '../../src/db/embedded.js';

const root = resolve(import.meta.dirname, '../..');
let dataDir: string;
let workDir: string;
let port: number;
let server: ChildProcess | undefined;

/**
 * The environment of a fresh machine: no credentials, database or provider keys of the caller's (the runner
 * mints a local token; every model runs offline).
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  const names = ['DATABASE_URL', 'STAFFROOM_API_KEY', 'STAFFROOM_TOKEN', 'STAFFROOM_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'];
  for (const name of names) delete env[name];
  return env;
}

const startServer = () => startLocalServer({ dataDir, port, env: cleanEnv() });
const stopServer = (child: ChildProcess | undefined) => stopChildProcess(child);

function runRunner(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/runner.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...cleanEnv(), STAFFROOM_URL: `http://127.0.0.1:${port}`, DATA_DIR: dataDir },
      timeout: 60_000, // a task that never finishes fails the test instead of hanging it
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-runner-data-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
  workDir = mkdtempSync(join(tmpdir(), 'staffroom-runner-work-'));
  port = await freePort();
  server = await startServer();
}, 90_000);
afterAll(async () => {
  await stopServer(server);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

describe('npm run runner', () => {
  it('imports the agent file, runs its Read call on --dir and prints the answer', { timeout: 90_000 }, async () => {
    const notes = 'The deploy runs from main at 09:00 UTC.';
    writeFileSync(join(workDir, 'notes.txt'), `${notes}\n`);
    const agent = join(workDir, 'notes-reader.md');
    // As published: a model alias whose provider has no key here (the offline model runs it instead, with a warning).
    writeFileSync(
      agent,
      '---\nname: notes-reader\ndescription: Answers from the notes.\ntools: Read, Grep\nmodel: sonnet\ncolor: green\n---\nAnswer from the files.\n',
    );

    const { code, stdout, stderr } = await runRunner([agent, '@Read notes.txt', '--dir', workDir]);

    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stdout).toContain(notes);
    expect(stderr).toMatch(/Read notes\.txt … ok/); // the progress line
    expect(stderr).toContain('frontMatter.model: claude-sonnet-4-5 runs on anthropic');
    // The transcript: the step that called Read, then the step that answered, each with its exact cost, which
    // add up to the task's.
    const steps = [...stderr.matchAll(/step (\d+): \d+ input, \d+ output, 0 cached tokens, (\d+) credits?/g)];
    expect(steps.map((m) => Number(m[1]))).toEqual([1, 2]);
    expect(stderr).toMatch(/step 1: [^\n]+\n {4}Read notes\.txt \(ok\)\n {2}step 2: /);
    const total = /succeeded: 2 steps, (\d+) credits? \(offline\/offline-small\)/.exec(stderr);
    expect(total, stderr).not.toBeNull();
    expect(Number(total![1])).toBe(steps.reduce((sum, m) => sum + Number(m[2]), 0));
  });

  it('with --team, also runs the members’ tool calls and prints the lead’s answer', { timeout: 120_000 }, async () => {
    const teamDir = mkdtempSync(join(workDir, 'team-'));
    const plan = 'Ship the release notes on Friday.';
    writeFileSync(join(teamDir, 'plan.txt'), `${plan}\n`);
    const member = join(teamDir, 'plan-reader.md');
    writeFileSync(member, '---\nname: plan-reader\ndescription: Reads the plan.\ntools: Read\n---\nAnswer from the files.\n');
    const lead = join(teamDir, 'plan-lead.md');
    writeFileSync(lead, '---\nname: plan-lead\ndescription: Asks the plan reader.\ntools: Agent, Read\n---\nDelegate the reading.\n');
    // The runner imports one agent file per run: a first run brings the member into the organization.
    const imported = await runRunner([member, '@Read plan.txt', '--dir', teamDir]);
    expect({ code: imported.code, stderr: imported.stderr }).toMatchObject({ code: 0 });

    const { code, stdout, stderr } = await runRunner([lead, '@Agent plan-reader: @Read plan.txt', '--dir', teamDir, '--team']);

    expect({ code, stderr }).toMatchObject({ code: 0 });
    // The member's Read ran here, named by its member name, and its answer (quoting the file) is in the lead's.
    expect(stderr).toMatch(/ {2}plan-reader: Read plan\.txt … ok/);
    expect(stderr).toMatch(/ {2}plan-reader succeeded/);
    expect(stdout).toMatch(/Result of team member plan-reader \(task [0-9a-f-]{36}\):/);
    expect(stdout).toContain(plan);
    expect(stderr).toMatch(/succeeded: 2 steps, \d+ credits? \(offline\/offline-small\); \d+ credits? with its team/);
  });
});
