// Applies supabase/migrations/<timestamp>_<name>.sql in order, once each, one transaction per file, and
// records them in supabase_migrations.schema_migrations — the table the Supabase CLI keeps — so that
// `npm run db:migrate` and `supabase db push` agree on what has been applied.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Sql } from 'postgres';

const root = resolve(import.meta.dirname, '../..');
const migrationsDir = resolve(root, 'supabase/migrations');
const shimPath = resolve(import.meta.dirname, 'supabase-shim.sql');
const migrationName = /^(\d{14})_([a-z0-9_]+)\.sql$/;
const lockKey = 7_241_901; // any constant: serialises concurrent runners

export interface Migration {
  version: string;
  name: string;
  sql: string;
}

export function readMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = migrationName.exec(file);
      if (!match) throw new Error(`Migration file ${file} must be named <14-digit timestamp>_<snake_case_name>.sql`);
      return { version: match[1]!, name: match[2]!, sql: readFileSync(resolve(dir, file), 'utf8') };
    });
}

/** Runs as the database owner (a migration role, never a request's). Returns the versions it applied. */
export async function migrate(sql: Sql, migrations = readMigrations()): Promise<string[]> {
  const applied: string[] = [];
  const conn = await sql.reserve();
  const inTransaction = async (work: () => Promise<unknown>): Promise<void> => {
    await conn.unsafe('begin');
    try {
      await work();
      await conn.unsafe('commit');
    } catch (error) {
      await conn.unsafe('rollback');
      throw error;
    }
  };
  try {
    await conn`select pg_advisory_lock(${lockKey})`;
    const [{ exists } = { exists: false }] = await conn<{ exists: boolean }[]>`
      select exists(select 1 from pg_namespace where nspname = 'auth') as exists`;
    if (!exists) await inTransaction(() => conn.unsafe(readFileSync(shimPath, 'utf8')));
    await conn.unsafe(`
      create schema if not exists supabase_migrations;
      create table if not exists supabase_migrations.schema_migrations (
        version text primary key, statements text[], name text
      );`);
    const done = new Set(
      (await conn<{ version: string }[]>`select version from supabase_migrations.schema_migrations`).map((r) => r.version),
    );
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await inTransaction(async () => {
        await conn.unsafe(migration.sql);
        await conn`insert into supabase_migrations.schema_migrations (version, name) values (${migration.version}, ${migration.name})`;
      }).catch((error: unknown) => {
        throw new Error(`Migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`, { cause: error });
      });
      applied.push(migration.version);
    }
  } finally {
    await conn`select pg_advisory_unlock(${lockKey})`.catch(() => undefined);
    conn.release();
  }
  return applied;
}
