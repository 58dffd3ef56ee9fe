import type { Tx } from '../client.js';
import type { Cursor } from '../../services/pagination.js';

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

export async function insertApiKey(
  tx: Tx,
  key: { orgId: string; name: string; prefix: string; secretHash: string; createdBy: string; expiresAt: string | null },
): Promise<ApiKeyRow> {
  const [row] = await tx<ApiKeyRow[]>`
    with inserted as (
      insert into public.api_keys (organization_id, name, prefix, secret_hash, created_by, expires_at)
      values (${key.orgId}, ${key.name}, ${key.prefix}, ${key.secretHash}, ${key.createdBy}, ${key.expiresAt}::text::timestamptz)
      returning *)
    select ${keyColumns(tx)} from inserted k`;
  return row!;
}

export async function listApiKeys(
  tx: Tx,
  orgId: string,
  options: { limit: number; after?: Cursor; includeRevoked: boolean },
): Promise<ApiKeyRow[]> {
  return tx<ApiKeyRow[]>`
    select ${keyColumns(tx)} from public.api_keys k
    where k.organization_id = ${orgId}
      ${options.includeRevoked ? tx`` : tx`and k.revoked_at is null`}
      ${options.after ? tx`and (k.created_at, k.id) < (${options.after.createdAt}::text::timestamptz, ${options.after.id}::uuid)` : tx``}
    order by k.created_at desc, k.id desc
    limit ${options.limit + 1}`;
}

export async function findApiKey(tx: Tx, orgId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await tx<ApiKeyRow[]>`select ${keyColumns(tx)} from public.api_keys k where k.organization_id = ${orgId} and k.id = ${id}`;
  return row;
}

export async function revokeApiKey(tx: Tx, orgId: string, id: string): Promise<number> {
  const result = await tx`update public.api_keys set revoked_at = now() where organization_id = ${orgId} and id = ${id} and revoked_at is null`;
  return result.count;
}

export interface KeyForAuthentication {
  id: string;
  organizationId: string;
  usable: boolean;
  /** lastUsedAt is more than a minute old: worth a write. */
  stale: boolean;
}

/** Looks a key up by the hash of its secret, across organizations: service role only. */
export async function findKeyForAuthentication(tx: Tx, secretHash: string): Promise<KeyForAuthentication | undefined> {
  const [key] = await tx<KeyForAuthentication[]>`
    select k.id, k.organization_id as "organizationId",
           k.revoked_at is null and (k.expires_at is null or k.expires_at > now()) and o.deleted_at is null as usable,
           k.last_used_at is null or k.last_used_at < now() - interval '1 minute' as stale
    from public.api_keys k join public.organizations o on o.id = k.organization_id
    where k.secret_hash = ${secretHash}`;
  return key;
}

export async function touchApiKey(tx: Tx, id: string): Promise<void> {
  await tx`update public.api_keys set last_used_at = now() where id = ${id}`;
}
