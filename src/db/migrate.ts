// Applies supabase/migrations/<timestamp>_<name>.sql in order, once each, one transaction per file, and
// records them in supabase_migrations.schema_migrations — the table the Supabase CLI keeps — so that
// `npm run db:migrate` and `supabase db push` agree on what has been applied, and refuse the same things.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Sql } from 'postgres';

const root = resolve(import.meta.dirname, '../..');
const migrationsDir = resolve(root, 'supabase/migrations');
const shimPath = resolve(import.meta.dirname, 'supabase-shim.sql');
const migrationName = /^(\d{14})_([a-z0-9_]+)\.sql$/;
const snakeCase = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const lockKey = 7_241_901; // any constant: serialises concurrent runners

export interface Migration {
  version: string;
  name: string;
  sql: string;
}

/**
 * Migrations renamed after release, old version → new version. Nine were stamped by hand with round times
 * later than the commits that added them (and later than the day they were released), so any migration made
 * that day with `supabase migration new` sorted before them and `supabase db push` refused it. They now carry
 * the times of their commits. A database that applied them under the old versions has its records rewritten
 * by migrate() (the same contents, nothing runs again); for `supabase db push`, README's "Deploying on
 * Supabase" gives the equivalent `supabase migration repair` commands. Never remove an entry.
 */
export const renamedVersions: Readonly<Record<string, string>> = {
  '20261206090000': '20261205191026', // tool_loop
  '20261206100000': '20261205193851', // events_and_webhooks
  '20261206110000': '20261206062036', // cancel_charges
  '20261206120000': '20261206062037', // definer_search_path
  '20261206140000': '20261206062038', // idempotency_per_caller
  '20261206150000': '20261206062039', // free_grant_and_slugs
  '20261206160000': '20261206062040', // audit_from_changes
  '20261206170000': '20261206065740', // rate_limit_lock_wait
  '20261206180000': '20261206070857', // takeover_event
};

export function migrationFile(migration: Pick<Migration, 'version' | 'name'>): string {
  return `supabase/migrations/${migration.version}_${migration.name}.sql`;
}

export function readMigrations(dir = migrationsDir): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = migrationName.exec(file);
      if (!match) throw new Error(`Migration file ${file} must be named <14-digit timestamp>_<snake_case_name>.sql`);
      return { version: match[1]!, name: match[2]!, sql: readFileSync(resolve(dir, file), 'utf8') };
    });
  const seen = new Set<string>();
  for (const { version } of migrations) {
    if (seen.has(version)) throw new Error(`Two migration files share the version ${version}: each needs its own timestamp`);
    seen.add(version);
  }
  return migrations;
}

/** What `supabase db push` refuses without --include-all: files that sort before the latest version applied. */
export class OutOfOrderMigrationsError extends Error {
  constructor(
    readonly migrations: Migration[],
    readonly latestApplied: string,
  ) {
    super(
      'Found local migration files to be inserted before the last migration on the database ' +
        `(${latestApplied}).\n\n` +
        'Rerun with --include-all (npm run db:migrate -- --include-all, or supabase db push --include-all) ' +
        `to apply these migrations:\n${migrations.map(migrationFile).join('\n')}\n`,
    );
    this.name = 'OutOfOrderMigrationsError';
  }
}

export interface MigrateOptions {
  /** Apply pending migrations that sort before the latest applied one too (`supabase db push --include-all`). */
  includeAll?: boolean;
}

/**
 * Runs as the database owner (a migration role, never a request's). Returns the versions it applied. Refuses,
 * applying nothing, when a pending migration sorts before the latest one applied, unless `includeAll`.
 */
export async function migrate(sql: Sql, migrations = readMigrations(), options: MigrateOptions = {}): Promise<string[]> {
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
    await inTransaction(() => renameRecordedVersions(conn));
    const done = new Set(
      (await conn<{ version: string }[]>`select version from supabase_migrations.schema_migrations`).map((r) => r.version),
    );
    const latestApplied = [...done].sort().at(-1);
    const pending = migrations.filter((m) => !done.has(m.version));
    const outOfOrder = latestApplied === undefined ? [] : pending.filter((m) => m.version < latestApplied);
    if (outOfOrder.length && !options.includeAll) throw new OutOfOrderMigrationsError(outOfOrder, latestApplied!);
    for (const migration of pending) {
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

/**
 * Records of renamed migrations take their new versions (what `supabase migration repair --status reverted
 * <old>` then `--status applied <new>` does); where the new version is recorded already, the old record goes.
 */
async function renameRecordedVersions(conn: Sql): Promise<void> {
  const [olds, news] = [Object.keys(renamedVersions), Object.values(renamedVersions)];
  await conn`
    delete from supabase_migrations.schema_migrations m
    using unnest(${olds}::text[], ${news}::text[]) as r(old, new)
    where m.version = r.old
      and exists (select 1 from supabase_migrations.schema_migrations n where n.version = r.new)`;
  await conn`
    update supabase_migrations.schema_migrations m set version = r.new
    from unnest(${olds}::text[], ${news}::text[]) as r(old, new)
    where m.version = r.old`;
}

/** A UTC timestamp as migration versions are written: yyyymmddhhmmss. */
export function migrationStamp(at: Date): string {
  return at.toISOString().replace(/\D/g, '').slice(0, 14);
}

/**
 * The file name of a new migration made at `now` (`npm run db:new`, like `supabase migration new`), or why
 * there can be none: the name must be snake_case, and the new version must sort after every existing one.
 */
export function newMigrationFile(name: string, now: Date, existing: Pick<Migration, 'version' | 'name'>[]): string {
  if (!snakeCase.test(name)) {
    throw new Error(`The migration name must be snake_case (lower-case letters, digits, single underscores): "${name}"`);
  }
  const version = migrationStamp(now);
  const latest = existing
    .map((m) => m.version)
    .sort()
    .at(-1);
  if (latest !== undefined && version <= latest) {
    const file = existing.find((m) => m.version === latest)!;
    throw new Error(
      `A migration stamped now (${version}) would not sort after the latest one, ${migrationFile(file)}` +
        (version === latest
          ? ': it was made this very second; try again in a second.'
          : `, which is stamped in the future. supabase db push refuses a file that sorts before the last ` +
            `migration a database has applied, so this one could not be deployed after it. Wait until then, or give ` +
            `that file the time of its commit (git log --diff-filter=A --format=%cI -- <file>; once released, ` +
            `also add the rename to renamedVersions in src/db/migrate.ts).`),
    );
  }
  return `${version}_${name}.sql`;
}
