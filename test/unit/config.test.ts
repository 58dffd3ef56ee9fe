// Settings read from the environment: the browser origins CORS allows, and whether rate limits count; and the
// client address the Netlify adapter takes from the platform's header.
import { describe, expect, it } from 'vitest';
import { listenConnection, loadConfig } from '../../src/config.js';
import { describeDatabaseUrl, migrationUrlProblem, needsUnpreparedStatements } from '../../src/db/urls.js';
import { pollingMessage } from '../../src/db/notices.js';
import { handleWebRequest } from '../../src/http/adapters/web.js';
import type { HttpRequest } from '../../src/http/types.js';

describe('loadConfig', () => {
  it('reads CORS_ORIGINS as any origin by default, or the listed ones, and refuses what is not an origin', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    expect(loadConfig({ CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173/' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: 'app.example.com' })).toThrow(/CORS_ORIGINS must list origins/);
  });

  it('counts requests against rate limits unless RATE_LIMITS=off', () => {
    expect(loadConfig({}).rateLimits).toBe(true);
    expect(loadConfig({ RATE_LIMITS: 'off' }).rateLimits).toBe(false);
  });
});

describe('the database connections', () => {
  const pooled = 'postgres://postgres.abcdefghij:p%40ss@aws-0-eu-central-1.pooler.supabase.com:6543/postgres';

  it("LISTENs on Supabase's session pooler (port 5432) when DATABASE_URL is its transaction pooler", () => {
    expect(listenConnection({ DATABASE_URL: pooled }, pooled)).toEqual({
      kind: 'listen',
      url: 'postgres://postgres.abcdefghij:p%40ss@aws-0-eu-central-1.pooler.supabase.com:5432/postgres',
      source: 'session pooler',
    });
    // The Netlify function takes none of the session pooler's connections unless told to.
    expect(listenConnection({}, pooled, { derive: false })).toMatchObject({ kind: 'off' });
  });

  it('LISTENs on DATABASE_LISTEN_URL when set, nowhere when it is off, and on DATABASE_URL unless that is a transaction pooler', () => {
    const direct = 'postgresql://postgres:secret@db.abcdefghij.supabase.co:5432/postgres';
    expect(listenConnection({ DATABASE_LISTEN_URL: direct }, pooled)).toEqual({
      kind: 'listen',
      url: direct,
      source: 'DATABASE_LISTEN_URL',
    });
    expect(listenConnection({ DATABASE_LISTEN_URL: 'off' }, direct)).toEqual({ kind: 'off', reason: 'DATABASE_LISTEN_URL=off' });
    expect(listenConnection({}, direct)).toEqual({ kind: 'listen', url: direct, source: 'DATABASE_URL' });
    expect(listenConnection({}, 'postgres://app:secret@pgbouncer.internal:6543/app')).toEqual({
      kind: 'off',
      reason: 'DATABASE_URL is a transaction pooler (port 6543) and DATABASE_LISTEN_URL is unset',
    });
    expect(() => listenConnection({ DATABASE_LISTEN_URL: 'db.example.com:5432' }, direct)).toThrow(/DATABASE_LISTEN_URL must be/);
  });

  it('sends no prepared statements through a transaction pooler, and logs a URL without its user or password', () => {
    expect(needsUnpreparedStatements(pooled)).toBe(true);
    expect(needsUnpreparedStatements('postgres://app:secret@pgbouncer.internal:6543/app')).toBe(true);
    expect(needsUnpreparedStatements('postgres://app:secret@127.0.0.1:6432/app?prepare=false')).toBe(true);
    expect(needsUnpreparedStatements('postgres://app:secret@db.example.com:5432/app')).toBe(false);
    expect(describeDatabaseUrl(pooled)).toBe('aws-0-eu-central-1.pooler.supabase.com:6543/postgres');
    expect(describeDatabaseUrl('postgres://u:p@ss@[::1]/app?sslmode=require')).toBe('[::1]:5432/app');
  });

  it('says what polls and how often when there is no LISTEN connection', () => {
    expect(pollingMessage('DATABASE_LISTEN_URL=off')).toBe(
      'No LISTEN connection (DATABASE_LISTEN_URL=off): polling instead; the worker looks for queued tasks every 1 s, ' +
        'running tasks ask whether they were canceled every 0.5 s, the webhook dispatcher looks for due deliveries every 1 s ' +
        'and event streams read new events every 1 s. Set DATABASE_LISTEN_URL to a session-mode pooler or a direct connection to hear of them at once.',
    );
  });
});

describe('the URL migrations run on', () => {
  it('refuses a transaction pooler, naming the session pooler, and never the password', () => {
    const pooled = 'postgresql://postgres.abc:s3cret@aws-0-eu-central-1.pooler.supabase.com:6543/postgres';
    const problem = migrationUrlProblem(pooled)!;
    expect(problem).toContain('transaction pooler (aws-0-eu-central-1.pooler.supabase.com:6543/postgres)');
    expect(problem).toContain('port 5432');
    expect(problem).not.toContain('s3cret');
    expect(migrationUrlProblem('postgresql://postgres.abc:s3cret@aws-0-eu-central-1.pooler.supabase.com:5432/postgres')).toBeUndefined();
    expect(migrationUrlProblem('postgres://postgres:pw@db.abc.supabase.co:5432/postgres')).toBeUndefined();
  });
});

describe('the web adapter', () => {
  it("takes the client's address from Netlify's header", async () => {
    let seen: HttpRequest | undefined;
    const app = {
      handle: async (request: HttpRequest) => {
        seen = request;
        return { status: 204, headers: {}, body: '' };
      },
    };
    await handleWebRequest(app, new Request('https://example.com/v1/plans', { headers: { 'x-nf-client-connection-ip': '203.0.113.7' } }));
    expect(seen?.clientAddress).toBe('203.0.113.7');
  });
});
