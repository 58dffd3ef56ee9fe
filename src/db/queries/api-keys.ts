import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';

export interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

const keyColumns = (tx: Tx) => tx`
  k.id, k.name, k.prefix, k.created_by as "createdBy", to_json(k.created_at)#>>'{}' as "createdAt",
  to_json(k.last_used_at)#>>'{}' as "lastUsedAt", to_json(k.expires_at)#>>'{}' as "expiresAt",
  to_json(k.revoked_at)#>>'{}' as "revokedAt"`;

/** Issues a key for the organization; only the SHA-256 of its secret is stored. */
export async function createApiKey(
  tx: Tx,
  key: { orgId: string; name: string; prefix: string; secretHash: string; expiresAt: string | null; requestId: string },
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_api_key(${key.orgId}, ${key.name}, ${key.prefix}, ${key.secretHash},
                                    ${key.expiresAt}::text::timestamptz, ${key.requestId}) as id`;
  return row!.id;
}

export async function listApiKeys(tx: Tx, orgId: string, options: PageRequest & { includeRevoked: boolean }): Promise<ApiKeyRow[]> {
  const page = keyset(tx, ['k.created_at', 'k.id'], options);
  return tx<ApiKeyRow[]>`
    select ${keyColumns(tx)} from staffroom.api_keys k
    where k.organization_id = ${orgId}
      ${options.includeRevoked ? tx`` : tx`and k.revoked_at is null`}
      ${page.after}
    ${page.orderAndLimit}`;
}

export async function findApiKey(tx: Tx, orgId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await tx<
    ApiKeyRow[]
  >`select ${keyColumns(tx)} from staffroom.api_keys k where k.organization_id = ${orgId} and k.id = ${id}`;
  return row;
}

/** Idempotent: a revoked key stays as it is. */
export async function revokeApiKey(tx: Tx, orgId: string, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.revoke_api_key(${orgId}, ${id}, ${requestId})`;
}

export interface KeyForAuthentication {
  id: string;
  organizationId: string;
  usable: boolean;
  /** lastUsedAt is more than a minute old: worth a write. */
  stale: boolean;
  expiresAt: string | null;
}

/** Looks a key up by the hash of its secret, across organizations: service role only. */
export async function findKeyForAuthentication(tx: Tx, secretHash: string): Promise<KeyForAuthentication | undefined> {
  const [key] = await tx<KeyForAuthentication[]>`
    select k.id, k.organization_id as "organizationId",
           k.revoked_at is null and (k.expires_at is null or k.expires_at > now()) and o.deleted_at is null as usable,
           k.last_used_at is null or k.last_used_at < now() - interval '1 minute' as stale,
           to_json(k.expires_at)#>>'{}' as "expiresAt"
    from staffroom.api_keys k join staffroom.organizations o on o.id = k.organization_id
    where k.secret_hash = ${secretHash}`;
  return key;
}

export async function touchApiKey(tx: Tx, id: string): Promise<void> {
  await tx`update staffroom.api_keys set last_used_at = now() where id = ${id}`;
}
