// One embedded Postgres cluster per test run, with a migrated template database; each test file clones it.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { connect } from '../../src/db/client.js';
import { startEmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { databaseUrl } from './database-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    clusterUrl: string;
  }
}

export const templateDatabase = 'staffroom_template';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'staffroom-test-'));
  chmodSync(dir, 0o755); // the cluster runs unprivileged when the tests run as root
  const cluster = await startEmbeddedDatabase({ dataDir: join(dir, 'pg'), password: randomBytes(16).toString('hex') });
  const admin = connect(cluster.url, { max: 1 });
  await admin.unsafe(`create database ${templateDatabase}`);
  const template = connect(databaseUrl(cluster.url, templateDatabase), { max: 1 });
  await migrate(template);
  await template.end();
  project.provide('clusterUrl', cluster.url);
  return async () => {
    await admin.end();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
