// `redocly respect` runs the Arazzo workflows in test/contract/arazzo/ against the running service; it
// checks each step's success criteria and validates every response against the contract's schemas.
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { require, runNodeProcess } from '../support/processes.js';

const workflowsDir = resolve(import.meta.dirname, 'arazzo');
const workflowFiles = readdirSync(workflowsDir).filter((f) => f.endsWith('.arazzo.yaml'));

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('redocly respect', () => {
  it.each(workflowFiles)('%s passes every workflow', async (file) => {
    const { code, output } = await runNodeProcess(require.resolve('@redocly/cli/bin/cli.js'), [
      'respect',
      resolve(workflowsDir, file),
      '--server',
      `staffroom=${server.baseUrl}`,
    ]);
    const summary = /Workflows: (\d+) passed(?:, (\d+) failed)?, (\d+) total/.exec(output);
    expect(summary, output).not.toBeNull();
    expect({ code, failed: Number(summary![2] ?? 0) }, output).toEqual({ code: 0, failed: 0 });
    expect(Number(summary![1])).toBeGreaterThan(0);
  });
});
