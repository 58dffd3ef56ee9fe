// Spec-driven fuzzing of the real app over a real database: seeded requests, valid and mutated, for every
// operation; every response must be declared, on contract, an envelope with X-Request-Id, and never a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { startFakeStripe } from '../support/fake-stripe.js';
import { fuzzOperations, type FuzzFixture } from '../support/fuzz.js';
import { formatFailures, runFuzz } from '../support/fuzz-run.js';
import { buildFixture, fixtureRepair, fuzzResolveWebhookHost, fuzzStripe, fuzzUsers } from '../support/fuzz-target.js';

// A fixed seed, so that a failure here fails the same way on every machine; FUZZ_SEED explores others.
const seed = Number(process.env.FUZZ_SEED ?? 20261125);
// Bounded by time for slow machines and by count so that fast ones run the same requests.
const budgetMs = 30_000;
const maxRequests = 8_000;

const fakeStripe = await startFakeStripe();
const stripe = fuzzStripe(fakeStripe.url);
const app = useTestApp({ stripe, resolveWebhookHost: fuzzResolveWebhookHost });
let fixture: FuzzFixture;
let member: { token: string; email: string };

beforeAll(async () => {
  const users = await fuzzUsers(app.database.db);
  member = users.member;
  fixture = await buildFixture(app.server.baseUrl, users.owner, {
    member: users.member,
    credentials: users.credentials,
    stripeWebhookSecret: stripe.config.webhookSecret,
  });
});
afterAll(() => fakeStripe.close());

describe('fuzzing every operation of the contract', () => {
  it(`answers every request on contract (seed ${seed})`, { timeout: budgetMs + 30_000 }, async () => {
    const report = await runFuzz({
      baseUrl: app.server.baseUrl,
      fixture,
      seed,
      maxRequests,
      budgetMs,
      repair: fixtureRepair(app.server.baseUrl, fixture, member),
    });
    expect(report.operationsCovered, 'every operation was called').toBe(fuzzOperations().length);
    expect(report.failures.length, formatFailures(report, fixture)).toBe(0);
  });
});
