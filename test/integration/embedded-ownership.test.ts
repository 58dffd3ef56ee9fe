// The process that starts the embedded cluster owns it: other commands on the same data directory use it
// (db:migrate, token) or refuse, naming the owner (a second npm start); none of them stops it.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseAnswers } from '../support/database-url.js';
import type { EmbeddedDatabase } from '../../src/db/embedded.js';
import { startLocalDatabase } from '../../src/db/local.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
let dataDir: string;
let cluster: EmbeddedDatabase;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-owner-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
  cluster = await startLocalDatabase(dataDir);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function command(script: string): Promise<{ code: number; output: string }> {
  const env = { ...process.env, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'development' };
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script], { cwd: root, env, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('the embedded cluster of a running service', () => {
  it('is migrated in place by db:migrate, and keeps running', { timeout: 90_000 }, async () => {
    const migrated = await command('scripts/db-migrate.ts');
    expect(migrated.code, migrated.output).toBe(0);
    expect(migrated.output).toMatch(/Applied \d{14}|No pending migrations/);
    expect(await databaseAnswers(cluster.url)).toBe(true);
  });

  it('is not taken over by a second npm start, which says who owns it', { timeout: 90_000 }, async () => {
    const second = await command('src/server.ts');
    expect(second.code).not.toBe(0);
    expect(second.output).toContain(`run by another process (pid ${process.pid})`);
    expect(await databaseAnswers(cluster.url)).toBe(true);
  });
});
