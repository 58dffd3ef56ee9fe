// dredd replays the contract's examples against the running service: every implemented operation's
// documented success response must come back with the documented status, headers and body shape.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { require, runNodeProcess } from '../support/processes.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('dredd', () => {
  it('passes every transaction it runs, and runs some', async () => {
    const { code, output } = await runNodeProcess(require.resolve('dredd/bin/dredd'), [
      resolve(import.meta.dirname, '../../src/generated/openapi.json'),
      server.baseUrl,
      `--hookfiles=${resolve(import.meta.dirname, 'dredd-hooks.cjs')}`,
      '--loglevel=warning',
      '--color=false',
    ]);
    const summary = /complete: (\d+) passing, (\d+) failing, (\d+) errors, (\d+) skipped/.exec(output);
    expect(summary, output).not.toBeNull();
    const [, passing, failing, errors] = summary!.map(Number);
    expect({ failing, errors, code }, output).toEqual({ failing: 0, errors: 0, code: 0 });
    expect(passing).toBeGreaterThanOrEqual(4);
  });
});
