// The block `npm start` prints once it listens: the addresses, the database and the integrations that are on,
// naming variables and never their values.
import { describe, expect, it } from 'vitest';
import { startupBanner } from '../../src/banner.js';

const embedded = { mode: 'embedded', dataDir: '/home/dev/staffroom/.data' } as const;

describe('startupBanner', () => {
  it('gives the addresses and the zero-configuration setup', () => {
    const banner = startupBanner({ host: '127.0.0.1', port: 3000, database: embedded, env: {} });
    expect(banner).toContain('http://127.0.0.1:3000\n');
    expect(banner).toContain('http://127.0.0.1:3000/docs');
    expect(banner).toContain('http://127.0.0.1:3000/v1/openapi.json');
    expect(banner).toMatch(/Database +\/home\/dev\/staffroom\/\.data \(embedded Postgres\)/);
    expect(banner).toMatch(
      /Auth +local: supabase-js signs up and in at http:\/\/127\.0\.0\.1:\d+ \(any anon key\), or npm run token -- you@example\.com/,
    );
    expect(banner).toMatch(/Stripe +off \(set STRIPE_SECRET_KEY\)/);
    expect(banner).toMatch(/OpenAI-compatible +off \(set OPENAI_API_KEY\)/);
    expect(banner).toMatch(/Anthropic +off \(set ANTHROPIC_API_KEY\)/);
    expect(banner).toMatch(/Offline models +on/);
    expect(banner).toMatch(/Webhooks +sending to public addresses only/);
    expect(startupBanner({ host: '127.0.0.1', port: 3000, database: embedded, env: { WEBHOOKS_ALLOW_PRIVATE_URLS: 'true' } })).toMatch(
      /Webhooks +sending, local addresses allowed \(WEBHOOKS_ALLOW_PRIVATE_URLS\)/,
    );
    expect(banner.endsWith('\n')).toBe(true);
  });

  it('says which integrations are on without printing a secret', () => {
    const secrets = {
      SUPABASE_JWT_SECRET: 'jwt-secret-value-0123456789',
      STRIPE_SECRET_KEY: 'sk_test_secretvalue',
      OPENAI_API_KEY: 'sk-openai-secret',
      ANTHROPIC_API_KEY: 'sk-ant-secret',
    };
    const banner = startupBanner({
      host: '0.0.0.0',
      port: 8080,
      database: { mode: 'external' },
      env: {
        ...secrets,
        SUPABASE_URL: 'https://abc.supabase.co/',
        OPENAI_BASE_URL: 'https://user:password@llm.example.com/v1?key=secret',
        DATABASE_URL: 'postgres://app:db-password@db.example.com/app',
      },
    });
    expect(banner).toContain('http://localhost:8080/docs');
    expect(banner).toMatch(/Database +DATABASE_URL\n/);
    expect(banner).toMatch(/Auth +Supabase \(https:\/\/abc\.supabase\.co\)/);
    expect(banner).toMatch(/Stripe +on \(STRIPE_SECRET_KEY\)/);
    expect(banner).toMatch(/OpenAI-compatible +on \(OPENAI_API_KEY, https:\/\/llm\.example\.com\/v1\)/);
    expect(banner).toMatch(/Anthropic +on \(ANTHROPIC_API_KEY\)/);
    for (const secret of [...Object.values(secrets), 'password', 'key=secret', 'db-password']) expect(banner).not.toContain(secret);
  });

  it('names the variables that turn on auth against an external database', () => {
    const external = startupBanner({ host: '127.0.0.1', port: 3000, database: { mode: 'external' }, env: {} });
    expect(external).toMatch(/Auth +off: signed-in operations answer 503 \(set SUPABASE_URL or SUPABASE_JWT_SECRET\)/);
    const withSecret = startupBanner({
      host: '127.0.0.1',
      port: 3000,
      database: { mode: 'external' },
      env: { SUPABASE_JWT_SECRET: 'x'.repeat(32) },
    });
    expect(withSecret).toMatch(/Auth +Supabase \(SUPABASE_JWT_SECRET\)/);
    expect(withSecret).not.toContain('x'.repeat(32));
  });

  it('brackets an IPv6 host', () => {
    expect(startupBanner({ host: '::1', port: 3000, database: embedded, env: {} })).toContain('http://[::1]:3000/docs');
  });
});
