// The embedded cluster keeps its port across restarts of the service, so that whatever found it there (another
// local instance, a database client) still does; when another program took the port, it moves and says so.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseAnswers } from '../support/database-url.js';
import type { EmbeddedDatabase } from '../../src/db/embedded.js';
import { startLocalDatabase } from '../../src/db/local.js';

let dataDir: string;
let cluster: EmbeddedDatabase | undefined;
let squatter: Server | undefined;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-port-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
});
afterAll(async () => {
  await cluster?.stop();
  await new Promise((resolveClose) => (squatter ? squatter.close(resolveClose) : resolveClose(undefined)));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the embedded cluster of npm start', () => {
  it('listens on the same port after a restart, and on another, said and kept, when that one was taken', { timeout: 120_000 }, async () => {
    const moves: [number, number][] = [];
    const onPortMoved = (from: number, to: number) => void moves.push([from, to]);
    cluster = await startLocalDatabase(dataDir, { onPortMoved });
    const first = cluster.port;
    expect(readFileSync(join(dataDir, 'port'), 'utf8').trim()).toBe(String(first));
    await cluster.stop();

    cluster = await startLocalDatabase(dataDir, { onPortMoved });
    expect(cluster.port).toBe(first);
    expect(await databaseAnswers(cluster.url)).toBe(true);
    await cluster.stop();

    squatter = createServer();
    await new Promise<void>((resolveListen) => squatter!.listen(first, '127.0.0.1', resolveListen));
    cluster = await startLocalDatabase(dataDir, { onPortMoved });
    const second = cluster.port;
    expect(second).not.toBe(first);
    expect(moves).toEqual([[first, second]]);
    expect(await databaseAnswers(cluster.url)).toBe(true);
    await cluster.stop();

    cluster = await startLocalDatabase(dataDir, { onPortMoved });
    expect(cluster.port).toBe(second);
    expect(moves).toHaveLength(1);
  });
});
