// postgres.js queues small writes for the next turn of the event loop; when the connection's socket closes first
// (its backend killed, a pooler resetting it), the unpatched driver then writes to a null socket and throws
// outside any caller, which ends the process. patches/postgres+*.patch makes that write fail the waiting query
// with CONNECTION_CLOSED instead. This is the driver's path to it, made deterministic with a reserved connection
// whose backend is killed, run in a process of its own: what is checked is that the process goes on.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const run = promisify(execFile);
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const script = `
import postgres from 'postgres';
const sql = postgres(process.env.TEST_DATABASE_URL, { max: 2, onnotice: () => {} });
const reserved = await sql.reserve();
const [{ pid }] = await reserved\`select pg_backend_pid() as pid\`;
await sql\`select pg_terminate_backend(\${pid})\`;
await new Promise((resolve) => setTimeout(resolve, 100)); // the socket's close arrives before the next write
const outcome = await reserved\`select 1\`.then(() => 'answered', (error) => error.code);
reserved.release();
const [{ one }] = await sql\`select 1 as one\`;
console.log(outcome, one);
await sql.end({ timeout: 1 });
`;

describe('a query on a connection whose backend was killed', () => {
  it('is refused with CONNECTION_CLOSED, and the process goes on', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: resolve(import.meta.dirname, '../..'),
      env: { ...process.env, TEST_DATABASE_URL: database.url },
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe('CONNECTION_CLOSED 1');
  });
});
