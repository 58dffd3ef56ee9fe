import { createHash, randomBytes } from 'node:crypto';
import { withService, type Db, type TxLimits } from '../db/client.js';
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import * as queries from '../db/queries/api-keys.js';
import { apiKeyClaims, type Caller } from '../kernel/caller.js';
import { asCaller, ensureProfile, userOf, type BeforeCommit } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { paginate } from './pagination.js';

export const apiKeyPrefix = 'sk_live_';
const secretPattern = /^sk_live_[A-Za-z0-9]{40}$/;
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function generateApiKeySecret(): string {
  const bytes = randomBytes(40);
  let body = '';
  for (const byte of bytes) body += alphabet[byte % alphabet.length]; // 256 % 62 bias is negligible at 40 characters
  return `${apiKeyPrefix}${body}`;
}

/** Turns an `X-Api-Key` secret into a caller; unknown, revoked and expired keys are refused alike. */
/**
 * How long an instance keeps a key it resolved instead of looking it up again. Revocation still takes effect at
 * once: every transaction a key runs first checks that it is live (withUser's requireLiveKey), and Row Level
 * Security checks it on every query.
 */
const apiKeyCacheTtlMs = 30_000;
const apiKeyCacheMaxEntries = 10_000;
/** Resolved keys by the hash of their secret, and each key id's hash (to forget a revoked key). */
const apiKeyCache = new Map<string, { caller: Caller; until: number }>();
const apiKeyCacheHashes = new Map<string, string>();

export async function resolveApiKey(db: Db, secret: string, limits: TxLimits = {}): Promise<Caller> {
  if (!secretPattern.test(secret)) throw new ApiError('API_KEY_INVALID', 'The API key is malformed.');
  const secretHash = hashSecret(secret);
  const cached = apiKeyCache.get(secretHash);
  if (cached && cached.until > Date.now()) return cached.caller;
  if (cached) forgetApiKey(cached.caller.kind === 'api_key' ? cached.caller.keyId : '');
  // Service role: there is no caller yet to run as; the lookup is by the secret's hash only.
  const key = await withService(
    db,
    'resolve an API key before the request has a caller',
    async (tx) => {
      const found = await queries.findKeyForAuthentication(tx, secretHash);
      if (found?.usable && found.stale) await queries.touchApiKey(tx, found.id);
      return found;
    },
    limits,
  );
  if (!key?.usable) throw new ApiError('API_KEY_INVALID', 'The API key is not valid: unknown, revoked or expired.');
  const caller: Caller = {
    kind: 'api_key',
    keyId: key.id,
    organizationId: key.organizationId,
    claims: apiKeyClaims(key.id, key.organizationId),
  };
  const until = Math.min(Date.now() + apiKeyCacheTtlMs, key.expiresAt ? Date.parse(key.expiresAt) : Infinity);
  if (apiKeyCache.size >= apiKeyCacheMaxEntries) forgetApiKey(apiKeyCacheHashes.keys().next().value!);
  apiKeyCache.set(secretHash, { caller, until });
  apiKeyCacheHashes.set(key.id, secretHash);
  return caller;
}

/** Drops a key from this instance's cache (it was revoked here, or its entry is old). */
function forgetApiKey(keyId: string): void {
  const secretHash = apiKeyCacheHashes.get(keyId);
  if (secretHash !== undefined) apiKeyCache.delete(secretHash);
  apiKeyCacheHashes.delete(keyId);
}

type ApiKey = components['schemas']['ApiKey'];
type IssuedApiKey = components['schemas']['IssuedApiKey'];
type ApiKeyCreate = components['schemas']['ApiKeyCreate'];

const requireKeyManager = (org: { role: string }): void => requireRole(org, ['owner', 'admin'], 'manage API keys');

export async function createApiKey(
  ctx: RequestContext,
  orgId: string,
  input: ApiKeyCreate,
  beforeCommit?: BeforeCommit<IssuedApiKey>,
): Promise<IssuedApiKey> {
  const user = userOf(ctx);
  if (input.expiresAt && Date.parse(input.expiresAt) <= Date.now()) throw validationError('body.expiresAt', 'must be in the future');
  const secret = generateApiKeySecret();
  return asCaller(
    ctx,
    async (tx) => {
      requireKeyManager(await requireOrganization(tx, orgId));
      await ensureProfile(tx, user);
      const id = await queries.createApiKey(tx, {
        orgId,
        name: input.name,
        prefix: secret.slice(0, apiKeyPrefix.length + 5),
        secretHash: hashSecret(secret),
        expiresAt: input.expiresAt ?? null,
        requestId: ctx.serverRequestId,
      });
      return { ...(await queries.findApiKey(tx, orgId, id))!, secret };
    },
    { beforeCommit },
  );
}

export async function listApiKeys(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; includeRevoked?: boolean },
): Promise<{ items: ApiKey[]; nextCursor: string | null }> {
  userOf(ctx);
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      requireKeyManager(await requireOrganization(tx, orgId));
      return queries.listApiKeys(tx, orgId, { ...page, includeRevoked: query.includeRevoked ?? false });
    }),
  );
}

/** Idempotent: a revoked key is returned as it is. */
export async function revokeApiKey(ctx: RequestContext, orgId: string, keyId: string): Promise<ApiKey> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    requireKeyManager(await requireOrganization(tx, orgId));
    await queries.revokeApiKey(tx, orgId, keyId, ctx.serverRequestId);
    forgetApiKey(keyId);
    return (await queries.findApiKey(tx, orgId, keyId))!;
  });
}
