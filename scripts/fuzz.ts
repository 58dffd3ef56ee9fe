// `npm run fuzz`: the contract fuzzer of test/contract/fuzz.test.ts, for longer. Against FUZZ_BASE_URL with
// FUZZ_TOKEN (a user with no organization yet: their first, the one with free credits, becomes the fixture), or
// by default against the app in process over a throwaway embedded database. FUZZ_SECONDS (default 300), FUZZ_SEED
// (default random), FUZZ_REQUESTS; with FUZZ_REQUEST=<index>, only that request of the seed, printed in full with
// its response.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/db/client.js';
import { startEmbeddedDatabase } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { databaseUrl } from '../test/support/database-url.js';
import { startFakeStripe } from '../test/support/fake-stripe.js';
import { fuzzOperations, generateRequest, type FuzzFixture } from '../test/support/fuzz.js';
import { checkResponse, formatFailures, printableHeaders, runFuzz, sendRequest, type FuzzReport } from '../test/support/fuzz-run.js';
import { buildFixture, fixtureRepair, fuzzResolveWebhookHost, fuzzStripe, fuzzUsers } from '../test/support/fuzz-target.js';
import { startTestServer } from '../test/support/server.js';

interface Target {
  baseUrl: string;
  fixture: FuzzFixture;
  member?: { token: string; email: string };
  close(): Promise<void>;
}

const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
const seed = Number(process.env.FUZZ_SEED ?? randomBytes(4).readUInt32BE());
const maxRequests = Number(process.env.FUZZ_REQUESTS ?? Number.MAX_SAFE_INTEGER);

async function remoteTarget(baseUrl: string, token: string): Promise<Target> {
  const fixture = await buildFixture(baseUrl, { token });
  return { baseUrl, fixture, close: async () => {} };
}

/** The test's setup without vitest: a migrated embedded cluster in a temporary folder, the app, fake Stripe. */
async function inProcessTarget(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'staffroom-fuzz-'));
  chmodSync(dir, 0o755); // the cluster runs unprivileged when this runs as root
  const cluster = await startEmbeddedDatabase({ dataDir: join(dir, 'pg'), password: randomBytes(16).toString('hex') });
  const admin = connect(cluster.url, { max: 1 });
  await admin.unsafe('create database staffroom_fuzz');
  const db = connect(databaseUrl(cluster.url, 'staffroom_fuzz'), { max: 10 });
  await migrate(db);
  const fakeStripe = await startFakeStripe();
  const stripe = fuzzStripe(fakeStripe.url);
  const server = await startTestServer({ db, stripe, resolveWebhookHost: fuzzResolveWebhookHost });
  const users = await fuzzUsers(db);
  const fixture = await buildFixture(server.baseUrl, users.owner, {
    member: users.member,
    credentials: users.credentials,
    stripeWebhookSecret: stripe.config.webhookSecret,
  });
  return {
    baseUrl: server.baseUrl,
    fixture,
    member: users.member,
    close: async () => {
      await server.close();
      await fakeStripe.close();
      await db.end();
      await admin.end();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function progress(report: FuzzReport): void {
  console.error(`  ${report.requests} requests, ${report.failures.length} failures, ${Math.round(report.elapsedMs / 1000)} s`);
}

const { FUZZ_BASE_URL: baseUrl, FUZZ_TOKEN: token } = process.env;
if (baseUrl && !token) {
  console.error(
    'FUZZ_BASE_URL needs FUZZ_TOKEN: an access token of a user with no organization yet (only the first one has the free credits its tasks need).',
  );
  process.exit(2);
}
/** One request of the seed, in full: what a failure's `request #n` was, sent again. */
async function replay(target: Target, index: number): Promise<void> {
  const request = generateRequest(fuzzOperations(), target.fixture, seed, index);
  const response = await sendRequest(target.baseUrl, request);
  const problems = checkResponse(request, response, { allowDependency503: Boolean(baseUrl) });
  console.log(`${request.operationId}, seed ${seed}, request #${index}: ${request.mutations.join('; ') || 'valid request'}`);
  console.log(
    `${request.method} ${request.url}\n${JSON.stringify(printableHeaders(request.headers, target.fixture), null, 2)}\n${request.body ?? ''}`,
  );
  console.log(`\n${response.status}\n${response.text}\n\n${problems.length ? problems.join('\n') : 'no problems'}`);
  if (problems.length) process.exitCode = 1;
}

async function fuzz(target: Target): Promise<void> {
  console.error(`fuzzing ${target.baseUrl} for ${seconds} s with FUZZ_SEED=${seed}`);
  const report = await runFuzz({
    baseUrl: target.baseUrl,
    fixture: target.fixture,
    seed,
    maxRequests,
    budgetMs: seconds * 1000,
    // A deployed service may be briefly unavailable; the in-process one has no reason to be.
    allowDependency503: Boolean(baseUrl),
    repair: fixtureRepair(target.baseUrl, target.fixture, target.member),
    onProgress: progress,
  });
  const statuses = Object.entries(report.byStatus).sort(([a], [b]) => a.localeCompare(b));
  console.log(statuses.map(([key, count]) => `${key.padEnd(34)} ${count}`).join('\n'));
  console.log(
    `\n${report.requests} requests over ${report.operationsCovered} operations in ${Math.round(report.elapsedMs / 1000)} s, seed ${seed}`,
  );
  if (report.failures.length) {
    console.log(`\n${formatFailures(report, target.fixture, 100)}`);
    process.exitCode = 1;
  } else {
    console.log('no failures');
  }
}

const target = baseUrl ? await remoteTarget(baseUrl.replace(/\/+$/, ''), token!) : await inProcessTarget();
try {
  if (process.env.FUZZ_REQUEST) await replay(target, Number(process.env.FUZZ_REQUEST));
  else await fuzz(target);
} finally {
  await target.close();
}
