// Local sign-in's accounts (services/local-auth.ts): passwords and refresh tokens beside the shim's auth.users, on
// the embedded database only. Every statement runs as the schema's owner (withOwner): no API role holds either table.
import type { Tx } from '../client.js';

/** A local user as sign-in answers it; `passwordHash` only where a password is asked for. */
export interface LocalUserRow {
  id: string;
  email: string;
  meta: Record<string, unknown>;
  createdAt: string;
  passwordHash: string | null;
}

const userColumns = (tx: Tx) => tx`u.id, u.email, u.raw_user_meta_data as meta, u.created_at::text as "createdAt"`;

/** Creates the two tables where they are missing, and takes every privilege on them from the API roles. */
export async function createLocalAuthTables(tx: Tx): Promise<void> {
  await tx.unsafe(`
    create table if not exists auth.local_passwords (
      user_id uuid primary key references auth.users (id) on delete cascade,
      password_hash text not null
    );
    create table if not exists auth.local_refresh_tokens (
      token_hash text primary key,
      user_id uuid not null references auth.users (id) on delete cascade,
      expires_at timestamptz not null,
      used_at timestamptz
    );
    revoke all on auth.local_passwords, auth.local_refresh_tokens from public;
    do $$ begin
      if exists (select 1 from pg_roles where rolname = 'anon') then
        revoke all on auth.local_passwords, auth.local_refresh_tokens from anon, authenticated, service_role;
      end if;
    end $$;`);
}

/** A new user with a password; undefined when the email (any case) is taken. */
export async function insertLocalUser(
  tx: Tx,
  user: { id: string; email: string; meta: Record<string, unknown>; passwordHash: string },
): Promise<LocalUserRow | undefined> {
  const [created] = await tx<LocalUserRow[]>`
    insert into auth.users as u (id, email, raw_user_meta_data)
    select ${user.id}, ${user.email}, ${tx.json(user.meta as never)}
    where not exists (select 1 from auth.users where lower(email) = ${user.email})
    returning ${userColumns(tx)}, null::text as "passwordHash"`;
  if (created) await tx`insert into auth.local_passwords (user_id, password_hash) values (${created.id}, ${user.passwordHash})`;
  return created;
}

/** The user with this email (lower-cased) and their password's hash, if they have one. */
export async function findLocalUserByEmail(tx: Tx, email: string): Promise<LocalUserRow | undefined> {
  const [user] = await tx<LocalUserRow[]>`
    select ${userColumns(tx)}, p.password_hash as "passwordHash"
    from auth.users u left join auth.local_passwords p on p.user_id = u.id where lower(u.email) = ${email}`;
  return user;
}

export async function findLocalUser(tx: Tx, id: string): Promise<LocalUserRow | undefined> {
  const [user] = await tx<LocalUserRow[]>`select ${userColumns(tx)}, null::text as "passwordHash" from auth.users u where u.id = ${id}`;
  return user;
}

export async function insertRefreshToken(tx: Tx, tokenHash: string, userId: string, days: number): Promise<void> {
  await tx`
    insert into auth.local_refresh_tokens (token_hash, user_id, expires_at)
    values (${tokenHash}, ${userId}, now() + make_interval(days => ${days}))`;
}

/**
 * Marks a live refresh token used (its first use is kept) and answers its user, with how many milliseconds ago it
 * was first used (null: now); undefined when there is no such live token.
 */
export async function useRefreshToken(tx: Tx, tokenHash: string): Promise<(LocalUserRow & { usedMsAgo: number | null }) | undefined> {
  const [row] = await tx<(LocalUserRow & { usedMsAgo: number | null })[]>`
    update auth.local_refresh_tokens r set used_at = coalesce(r.used_at, now())
    from auth.users u
    where r.token_hash = ${tokenHash} and r.expires_at > now() and u.id = r.user_id
    returning ${userColumns(tx)}, null::text as "passwordHash", (extract(epoch from now() - r.used_at) * 1000)::float8 as "usedMsAgo"`;
  return row;
}

/** Signs a user out of every local session. */
export async function deleteRefreshTokens(tx: Tx, userId: string): Promise<void> {
  await tx`delete from auth.local_refresh_tokens where user_id = ${userId}`;
}
