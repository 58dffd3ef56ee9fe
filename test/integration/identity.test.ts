// Access tokens signed with a Supabase project's asymmetric keys, fetched from its JWKS endpoint.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/kernel/errors.js';
import { apiKeyClaims, userClaims } from '../../src/kernel/caller.js';
import { authConfigFromEnv, createTokenVerifier, localIssuer } from '../../src/services/identity.js';

let jwks: Server;
let supabaseUrl: string;
let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };
let ec: { publicKey: CryptoKey; privateKey: CryptoKey };
let jwksRequests = 0;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256');
  ec = await generateKeyPair('ES256');
  const keys = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256' },
  ];
  jwks = createServer((req, res) => {
    jwksRequests++;
    if (req.url !== '/auth/v1/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys }));
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => jwks.once('listening', resolve));
  supabaseUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

const sign = (key: CryptoKey, alg: string, kid: string, claims: { iss?: string; exp?: string | number } = {}) =>
  new SignJWT({ email: 'Eve@Example.com', role: 'authenticated', user_metadata: { full_name: 'Eve Adams' } })
    .setProtectedHeader({ alg, kid })
    .setSubject('0d9c6a53-3b1e-4f0a-9d8c-7b6a5e4d3c2b')
    .setAudience('authenticated')
    .setIssuer(claims.iss ?? `${supabaseUrl}/auth/v1`)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '5m')
    .sign(key);

describe('verifying Supabase tokens with the JWKS', () => {
  it('accepts RS256 and ES256 tokens from the project, fetching the key set once', async () => {
    const verify = createTokenVerifier(authConfigFromEnv({ SUPABASE_URL: supabaseUrl })!);
    const before = jwksRequests;
    const user = await verify(await sign(rsa.privateKey, 'RS256', 'rsa-1'));
    expect(user).toMatchObject({ userId: '0d9c6a53-3b1e-4f0a-9d8c-7b6a5e4d3c2b', email: 'eve@example.com', name: 'Eve Adams' });
    await verify(await sign(ec.privateKey, 'ES256', 'ec-1'));
    expect(jwksRequests - before).toBe(1);
  });

  it('refuses a wrong issuer, an unknown key, an expired token and an HS256 token it has no secret for', async () => {
    const verify = createTokenVerifier(authConfigFromEnv({ SUPABASE_URL: supabaseUrl })!);
    const codeOf = (token: Promise<string>) =>
      token.then(verify).then(
        () => 'accepted',
        (e: unknown) => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)),
      );
    expect(await codeOf(sign(rsa.privateKey, 'RS256', 'rsa-1', { iss: 'https://other.supabase.co/auth/v1' }))).toMatch(
      /^TOKEN_INVALID: .*iss/,
    );
    const stranger = await generateKeyPair('RS256');
    expect(await codeOf(sign(stranger.privateKey, 'RS256', 'nope'))).toMatch(/^TOKEN_INVALID/);
    expect(await codeOf(sign(rsa.privateKey, 'RS256', 'rsa-1', { exp: Math.floor(Date.now() / 1000) - 60 }))).toMatch(/^TOKEN_EXPIRED/);
    const hs = new SignJWT({ email: 'x@example.com' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('0d9c6a53-3b1e-4f0a-9d8c-7b6a5e4d3c2b')
      .setAudience('authenticated')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('s'.repeat(32)));
    expect(await codeOf(hs)).toMatch(/^TOKEN_INVALID: .*HS256/);
  });
});

describe('what a token may carry', () => {
  const secret = 'k'.repeat(48);
  const verify = createTokenVerifier(authConfigFromEnv({}, secret)!);
  const base = () =>
    new SignJWT({
      email: 'zoe@example.com',
      role: 'authenticated',
      api_key_id: '6f1f4c1e-5d0a-4b8e-9a37-1c2d3e4f5a6b',
      organization_id: '0b7e2c55-8f43-4f5a-9b21-6c7d8e9f0a1b',
      plan: 'pro',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('0d9c6a53-3b1e-4f0a-9d8c-7b6a5e4d3c2b')
      .setAudience('authenticated')
      .setIssuer(localIssuer)
      .setIssuedAt();
  const key = new TextEncoder().encode(secret);
  const outcome = (token: Promise<string>) =>
    token.then(verify).then(
      () => 'accepted',
      (e: unknown) => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)),
    );

  it('refuses a token without exp, one of another role, and one whose header is not an object', async () => {
    expect(await outcome(base().sign(key))).toMatch(/^TOKEN_INVALID: .*exp/);
    const serviceRole = new SignJWT({ email: 'x@example.com', role: 'service_role' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('0d9c6a53-3b1e-4f0a-9d8c-7b6a5e4d3c2b')
      .setAudience('authenticated')
      .setIssuer(localIssuer)
      .setExpirationTime('5m');
    expect(await outcome(serviceRole.sign(key))).toMatch(/^TOKEN_INVALID: .*service_role/);
    expect(await outcome(Promise.resolve('bnVsbA.e30.x'))).toBe('TOKEN_INVALID: The access token is malformed.');
  });

  it('passes Postgres only the standard claims: never an API key id or organization a token brings along', async () => {
    const user = await verify(await base().setExpirationTime('5m').sign(key));
    const claims = userClaims(user, user.claims);
    expect(claims).toMatchObject({
      sub: user.userId,
      email: 'zoe@example.com',
      role: 'authenticated',
      aud: 'authenticated',
      iss: localIssuer,
    });
    expect(claims).not.toHaveProperty('api_key_id');
    expect(claims).not.toHaveProperty('organization_id');
    expect(claims).not.toHaveProperty('plan');
    expect(apiKeyClaims('6f1f4c1e-5d0a-4b8e-9a37-1c2d3e4f5a6b', '0b7e2c55-8f43-4f5a-9b21-6c7d8e9f0a1b')).not.toHaveProperty('sub');
  });
});
