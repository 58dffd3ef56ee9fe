// `redocly respect` runs the Arazzo workflows in test/contract/arazzo/ against the running service; it
// checks each step's success criteria and validates every response against the contract's schemas.
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWorker } from '../../src/services/worker.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer } from '../support/server.js';
import { require, runNodeProcess } from '../support/processes.js';

const workflowsDir = resolve(import.meta.dirname, 'arazzo');
const workflowFiles = readdirSync(workflowsDir).filter((f) => f.endsWith('.arazzo.yaml'));

let database: TestDatabase;
let server: TestServer;
let inputs: Record<string, string>;
beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ db: database.db });
  inputs = {
    strangerToken: (await signUp(database.db, 'respect-stranger@example.com')).token,
    strangerEmail: 'respect-stranger@example.com',
  };
});
afterAll(async () => {
  await server.close();
  await database.drop();
});

describe('redocly respect', () => {
  it.each(workflowFiles)('%s passes every workflow', async (file) => {
    // The tool and team workflows follow tasks as a worker runs them; the others read tasks that stay queued.
    const worker =
      file.startsWith('tools') || file.startsWith('teams')
        ? createWorker({ db: database.db, providers: { offline: createOfflineProvider() }, log: pino({ level: 'silent' }), pollMs: 100 })
        : undefined;
    worker?.start();
    // An owner per file: only a person's first organization has the free credits its tasks run on.
    const ownerToken = (await signUp(database.db, `respect-owner-${file.split('.')[0]}@example.com`)).token;
    const { code, output } = await runNodeProcess(require.resolve('@redocly/cli/bin/cli.js'), [
      'respect',
      resolve(workflowsDir, file),
      '--server',
      `staffroom=${server.baseUrl}`,
      ...Object.entries({ ...inputs, ownerToken }).flatMap(([name, value]) => ['--input', `${name}=${value}`]),
    ]);
    await worker?.stop();
    const summary = /Workflows: (\d+) passed(?:, (\d+) failed)?, (\d+) total/.exec(output);
    expect(summary, output).not.toBeNull();
    expect({ code, failed: Number(summary![2] ?? 0) }, output).toEqual({ code: 0, failed: 0 });
    expect(Number(summary![1])).toBeGreaterThan(0);
  });
});
