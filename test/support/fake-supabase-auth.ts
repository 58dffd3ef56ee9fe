// A local stand-in for Supabase Auth (GoTrue), speaking what supabase-js needs to sign in with a password,
// refresh, read the user and sign out. Its access tokens are HS256 JWTs with Supabase's claims, signed with the
// test server's secret, so that the real app accepts them; they live a couple of seconds, so that a refresh
// can be watched.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { localIssuer, mintAccessToken } from '../../src/services/identity.js';
import { testJwtSecret } from './server.js';

export interface FakeSupabaseAuth {
  /** The project URL to give supabase-js's createClient; Auth answers under `/auth/v1`. */
  url: string;
  addUser(user: { id: string; email: string; password: string; name?: string }): void;
  /** Tokens issued, by grant type. */
  grants: { password: number; refresh_token: number };
  close(): Promise<void>;
}

interface FakeUser {
  id: string;
  email: string;
  password: string;
  name?: string;
}

export async function startFakeSupabaseAuth(
  options: {
    /** How long an access token is valid (its `exp`), in seconds. */
    accessTokenSeconds?: number;
    /**
     * The lifetime the session announces (`expires_in`, `expires_at`); the token's own by default. A longer
     * one makes supabase-js hold on to a token the service already finds expired, as after a clock skew.
     */
    announcedSeconds?: number;
  } = {},
): Promise<FakeSupabaseAuth> {
  const accessTokenSeconds = options.accessTokenSeconds ?? 2;
  const announcedSeconds = options.announcedSeconds ?? accessTokenSeconds;
  const users = new Map<string, FakeUser>();
  /** Live refresh tokens; each is good for one refresh, as Supabase's rotation has it. */
  const refreshTokens = new Map<string, string>();
  const grants = { password: 0, refresh_token: 0 };

  const userJson = (user: FakeUser) => ({
    id: user.id,
    aud: 'authenticated',
    role: 'authenticated',
    email: user.email,
    email_confirmed_at: '2026-11-25T09:30:00.000Z',
    phone: '',
    confirmed_at: '2026-11-25T09:30:00.000Z',
    last_sign_in_at: new Date().toISOString(),
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: user.name ? { name: user.name } : {},
    identities: [],
    created_at: '2026-11-25T09:30:00.000Z',
    updated_at: new Date().toISOString(),
    is_anonymous: false,
  });

  async function session(user: FakeUser) {
    const refreshToken = crypto.randomUUID().replaceAll('-', '');
    refreshTokens.set(refreshToken, user.id);
    return {
      access_token: await mintAccessToken({
        secret: testJwtSecret,
        userId: user.id,
        email: user.email,
        name: user.name,
        issuer: localIssuer,
        expiresIn: `${accessTokenSeconds}s`,
      }),
      token_type: 'bearer',
      expires_in: announcedSeconds,
      expires_at: Math.floor(Date.now() / 1000) + announcedSeconds,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  async function userOfBearer(req: IncomingMessage): Promise<FakeUser | undefined> {
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, new TextEncoder().encode(testJwtSecret), { audience: 'authenticated' });
      return typeof payload.sub === 'string' ? users.get(payload.sub) : undefined;
    } catch {
      return undefined;
    }
  }

  async function answer(req: IncomingMessage, body: Record<string, unknown>): Promise<[number, unknown]> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /auth/v1/token' && url.searchParams.get('grant_type') === 'password') {
      const user = [...users.values()].find((u) => u.email === body.email && u.password === body.password);
      if (!user) return [400, { code: 'invalid_credentials', msg: 'Invalid login credentials' }];
      grants.password++;
      return [200, await session(user)];
    }
    if (route === 'POST /auth/v1/token' && url.searchParams.get('grant_type') === 'refresh_token') {
      const userId = typeof body.refresh_token === 'string' ? refreshTokens.get(body.refresh_token) : undefined;
      if (!userId) return [400, { code: 'refresh_token_not_found', msg: 'Invalid Refresh Token: Refresh Token Not Found' }];
      refreshTokens.delete(body.refresh_token as string);
      grants.refresh_token++;
      return [200, await session(users.get(userId)!)];
    }
    if (route === 'GET /auth/v1/user') {
      const user = await userOfBearer(req);
      return user ? [200, userJson(user)] : [401, { code: 'bad_jwt', msg: 'invalid JWT' }];
    }
    if (route === 'POST /auth/v1/logout') {
      const user = await userOfBearer(req);
      if (!user) return [401, { code: 'bad_jwt', msg: 'invalid JWT' }];
      for (const [token, userId] of refreshTokens) if (userId === user.id) refreshTokens.delete(token);
      return [204, undefined];
    }
    return [404, { code: 'not_found', msg: `${route} is not part of this fake` }];
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        // answered as missing credentials
      }
      answer(req, body).then(
        ([status, json]) => {
          res.writeHead(status, { 'Content-Type': 'application/json', 'X-Supabase-Api-Version': '2024-01-01' });
          res.end(json === undefined ? undefined : JSON.stringify(json));
        },
        (error: unknown) => res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ msg: String(error) })),
      );
    });
  }).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    addUser: (user) => users.set(user.id, user),
    grants,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
