// Chaos on the zero-configuration setup: the embedded postmaster is killed while requests run. Requests
// answer 503 (never 500) while it is down, the supervisor starts it again and says so, and the service
// recovers without a restart.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningPostmaster } from '../../src/db/embedded.js';
import { openDatabase, type RuntimeDatabase } from '../../src/db/runtime.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

let dataDir: string;
let database: RuntimeDatabase;
let server: TestServer;
let user: TestUser;
let orgId: string;
const logLines: { msg: string }[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-chaos-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  database = await openDatabase({ DATA_DIR: dataDir }, pino({ level: 'info' }, sink));
  server = await startTestServer({ db: database.db });
  user = await signUp(database.db, 'chaos@example.com');
  orgId = (await server.client({ accessToken: user.token }).POST('/v1/organizations', { body: { name: 'Chaos' } })).data!.data.id;
}, 120_000);
afterAll(async () => {
  await server?.close();
  await database?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the embedded postmaster killed under requests', () => {
  it('gives 503s, not 500s, while it is down, and recovers by itself', { timeout: 90_000 }, async () => {
    const client = server.client({ accessToken: user.token });
    const read = async () => (await client.GET('/v1/organizations/{orgId}', { params: { path: { orgId } } })).response.status;
    expect(await read()).toBe(200);

    const postmaster = runningPostmaster(join(dataDir, 'pg'))!;
    process.kill(postmaster.pid, 'SIGKILL');
    const statuses: number[] = [];
    let recovered = false;
    // Bounded: four readers at a time until a read succeeds again, at most 60 rounds of ~0.5 s.
    for (let round = 0; round < 60 && !recovered; round++) {
      const batch = await Promise.all([read(), read(), read(), read()]);
      statuses.push(...batch);
      // A backend of the killed postmaster may still answer a query it was already connected for: recovery is
      // a new postmaster that is alive, and a read that succeeds.
      const now = runningPostmaster(join(dataDir, 'pg'));
      recovered = batch.some((status) => status === 200) && now !== undefined && now.pid !== postmaster.pid;
      if (!recovered) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(recovered, `statuses: ${statuses.join(',')}`).toBe(true);
    expect(
      statuses.filter((status) => status !== 200 && status !== 503),
      `statuses: ${statuses.join(',')}`,
    ).toEqual([]);
    expect(logLines.map((line) => line.msg)).toContain('the embedded database stopped unexpectedly; restarting it');
    expect((await server.client().GET('/v1/health')).data?.data.status).toBe('ok');
    expect(await read()).toBe(200);
  });
});
