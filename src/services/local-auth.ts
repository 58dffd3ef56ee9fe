// Sign-in for `npm start` on the embedded database: the few Supabase Auth (GoTrue) endpoints that supabase-js's
// password sign-up, sign-in, refresh, user and sign-out call, answered for local users only, so that an app
// built on supabase-js runs against `npm start` exactly as against a Supabase project. Never on a Supabase
// project's database (SUPABASE_URL set, or DATABASE_URL given): Supabase Auth is the one that signs users in there.
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { withOwner, type Db, type Tx } from '../db/client.js';
import * as queries from '../db/queries/local-auth.js';
import type { LocalUserRow } from '../db/queries/local-auth.js';
import type { VerifiedUser } from '../kernel/caller.js';
import { mintAccessToken } from './identity.js';

/** An answer as GoTrue gives it: a status and a JSON body (its errors carry `error_code` and `msg`). */
export interface AuthAnswer {
  status: number;
  body?: unknown;
}

export interface LocalAuth {
  /** `path` is what follows `/auth/v1`, `query` the raw query string. */
  handle(method: string, path: string, query: string, headers: Record<string, string | undefined>, body: unknown): Promise<AuthAnswer>;
}

const accessTokenSeconds = 3_600;
const refreshTokenDays = 30;
/** A refresh token already used is honoured again this long, as GoTrue's reuse interval (tabs refreshing at once). */
const reuseIntervalMs = 10_000;
const minimumPasswordLength = 6;
const scryptOptions: ScryptOptions = { N: 16_384, r: 8, p: 1 };

/** Local sign-in answers only on the embedded database, and never where Supabase Auth signs users in. */
export function localSignInApplies(databaseMode: 'embedded' | 'external', env: Readonly<Record<string, string | undefined>>): boolean {
  return databaseMode === 'embedded' && !env.SUPABASE_URL && !env.SUPABASE_JWT_SECRET;
}

/** The local accounts' passwords and refresh tokens, beside the shim's auth.users (the embedded database only). */
export async function prepareLocalAuth(db: Db): Promise<void> {
  await withOwner(db, 'local sign-in keeps its passwords and refresh tokens', (tx) => queries.createLocalAuthTables(tx));
}

export function createLocalAuth(options: {
  db: Db;
  jwtSecret: string;
  verifyAccessToken: (token: string) => Promise<VerifiedUser>;
}): LocalAuth {
  const { db, jwtSecret } = options;
  const owner = <T>(work: (tx: Tx) => Promise<T>) => withOwner(db, 'local sign-in', work);

  async function session(tx: Tx, user: LocalUserRow): Promise<Record<string, unknown>> {
    const refreshToken = randomBytes(24).toString('base64url');
    await queries.insertRefreshToken(tx, sha256(refreshToken), user.id, refreshTokenDays);
    const name = typeof user.meta.name === 'string' ? user.meta.name : undefined;
    return {
      access_token: await mintAccessToken({
        secret: jwtSecret,
        userId: user.id,
        email: user.email,
        name,
        expiresIn: `${accessTokenSeconds}s`,
      }),
      token_type: 'bearer',
      expires_in: accessTokenSeconds,
      expires_at: Math.floor(Date.now() / 1000) + accessTokenSeconds,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  async function signUp(body: Record<string, unknown>): Promise<AuthAnswer> {
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!/^[^@\s]+@[^@\s]+$/.test(email) || email.length > 254)
      return failure(400, 'validation_failed', 'Unable to validate email address: invalid format');
    if (password.length < minimumPasswordLength || password.length > 72) {
      return failure(422, 'weak_password', `Password should be between ${minimumPasswordLength} and 72 characters.`);
    }
    const data = isRecord(body.data) ? body.data : {};
    const meta = typeof data.name === 'string' ? { name: data.name.slice(0, 200) } : {};
    const hash = await hashPassword(password);
    return owner(async (tx) => {
      const created = await queries.insertLocalUser(tx, { id: randomUUID(), email, meta, passwordHash: hash });
      if (!created) return failure(422, 'user_already_exists', 'User already registered');
      return { status: 200, body: await session(tx, created) };
    });
  }

  async function signIn(body: Record<string, unknown>): Promise<AuthAnswer> {
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const user = await owner((tx) => queries.findLocalUserByEmail(tx, email));
    // The same work and the same answer for an unknown email, a user without a password and a wrong one.
    const matches = await verifyPassword(password, user?.passwordHash ?? null);
    if (!user || !matches) return failure(400, 'invalid_credentials', 'Invalid login credentials');
    return { status: 200, body: await owner((tx) => session(tx, user)) };
  }

  async function refresh(body: Record<string, unknown>): Promise<AuthAnswer> {
    const token = typeof body.refresh_token === 'string' ? body.refresh_token : '';
    return owner(async (tx) => {
      const row = await queries.useRefreshToken(tx, sha256(token));
      if (!row) return failure(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
      if (row.usedMsAgo !== null && row.usedMsAgo > reuseIntervalMs) {
        return failure(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used');
      }
      return { status: 200, body: await session(tx, row) };
    });
  }

  async function caller(headers: Record<string, string | undefined>): Promise<VerifiedUser | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
    if (!token) return undefined;
    return options.verifyAccessToken(token).catch(() => undefined);
  }

  return {
    async handle(method, path, query, headers, body) {
      const fields = isRecord(body) ? body : {};
      if (method === 'POST' && path === '/signup') return signUp(fields);
      if (method === 'POST' && path === '/token') {
        const grant = new URLSearchParams(query).get('grant_type');
        if (grant === 'password') return signIn(fields);
        if (grant === 'refresh_token') return refresh(fields);
        return failure(400, 'validation_failed', 'Unsupported grant type: only password and refresh_token are answered locally');
      }
      if (method === 'GET' && path === '/user') {
        const verified = await caller(headers);
        if (!verified) return failure(401, 'bad_jwt', 'invalid JWT: unable to parse or verify signature');
        const user = await owner((tx) => queries.findLocalUser(tx, verified.userId));
        return user ? { status: 200, body: userJson(user) } : failure(404, 'user_not_found', 'User not found');
      }
      if (method === 'POST' && path === '/logout') {
        const verified = await caller(headers);
        if (!verified) return failure(401, 'bad_jwt', 'invalid JWT: unable to parse or verify signature');
        // Every scope signs out every local session of the user: locally there is no other device to keep.
        await owner((tx) => queries.deleteRefreshTokens(tx, verified.userId));
        return { status: 204 };
      }
      return failure(404, 'not_found', `${method} /auth/v1${path} is not answered by local sign-in (Supabase Auth has it)`);
    },
  };
}

function userJson(user: LocalUserRow): Record<string, unknown> {
  const created = new Date(user.createdAt).toISOString();
  return {
    id: user.id,
    aud: 'authenticated',
    role: 'authenticated',
    email: user.email,
    email_confirmed_at: created,
    phone: '',
    confirmed_at: created,
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: user.meta,
    identities: [],
    created_at: created,
    updated_at: created,
    is_anonymous: false,
  };
}

function failure(status: number, code: string, message: string): AuthAnswer {
  return { status, body: { code: status, error_code: code, msg: message } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, 32, scryptOptions, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64url')}$${(await derive(password, salt)).toString('base64url')}`;
}

/** Whether `password` matches `stored`; without a stored hash it still derives once, so timing tells nothing. */
async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [, salt, key] = stored?.split('$') ?? [];
  const derived = await derive(password, salt ? Buffer.from(salt, 'base64url') : randomBytes(16));
  return key !== undefined && timingSafeEqual(derived, Buffer.from(key, 'base64url'));
}
