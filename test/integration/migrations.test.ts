// The migration runner: in order, once each, one transaction per file, on a database without Supabase; the
// renamed migrations recognised under their old versions; out-of-order files refused as `supabase db push` does.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { connect, type Db } from '../../src/db/client.js';
import { migrate, OutOfOrderMigrationsError, readMigrations, renamedVersions, type Migration } from '../../src/db/migrate.js';
import { databaseUrl } from '../support/database-url.js';

let admin: Db;
let db: Db;
const suffix = randomBytes(4).toString('hex');
const name = `migrations_${suffix}`;
const created: { name: string; db: Db }[] = [];

/** An empty database: no auth schema, no roles of ours (the shim adds them). */
async function emptyDatabase(name: string): Promise<Db> {
  await admin.unsafe(`create database ${name}`);
  const db = connect(databaseUrl(inject('clusterUrl'), name), { max: 2 });
  created.push({ name, db });
  return db;
}

/** Records the renamed migrations under their old versions, as a database migrated before the rename has them. */
async function recordOldVersions(db: Db): Promise<void> {
  for (const [old, current] of Object.entries(renamedVersions)) {
    await db`update supabase_migrations.schema_migrations set version = ${old} where version = ${current}`;
  }
}

const recorded = async (db: Db): Promise<{ version: string; name: string }[]> =>
  db<{ version: string; name: string }[]>`select version, name from supabase_migrations.schema_migrations order by version`;

beforeAll(async () => {
  admin = connect(inject('clusterUrl'), { max: 1 });
  db = await emptyDatabase(name);
});
afterAll(async () => {
  for (const { name, db } of created) {
    await db.end();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
  }
  await admin.end();
});

describe('migrate', () => {
  it('applies every migration once, with the Supabase shim first', async () => {
    const all = readMigrations();
    expect(await migrate(db)).toEqual(all.map((m) => m.version));
    expect(await migrate(db)).toEqual([]);
    const [shim] = await db`select to_regprocedure('auth.uid()') is not null as uid, to_regclass('auth.users') is not null as users`;
    expect(shim).toEqual({ uid: true, users: true });
    const recorded = await db`select version, name from supabase_migrations.schema_migrations order by version`;
    expect(recorded.map((r) => r.version)).toEqual(all.map((m) => m.version));
  });

  it('rolls a failing file back whole and records nothing of it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(dir, '20990101000000_half_done.sql'), 'create table public.half_done (id int); select 1/0;');
    const failing = readMigrations(dir);
    await expect(migrate(db, [...readMigrations(), ...failing])).rejects.toThrow(/20990101000000_half_done failed/);
    const [state] = await db`select to_regclass('public.half_done') is null as rolled_back,
      (select count(*)::int from supabase_migrations.schema_migrations where version = '20990101000000') as recorded`;
    expect(state).toEqual({ rolled_back: true, recorded: 0 });
  });

  it('rejects a file that does not follow the naming rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(dir, 'add-things.sql'), 'select 1;');
    expect(() => readMigrations(dir)).toThrow(/timestamp/);
  });

  it('refuses a duplicated version', () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(dir, '20990101000000_one.sql'), 'select 1;');
    writeFileSync(join(dir, '20990101000000_two.sql'), 'select 2;');
    expect(() => readMigrations(dir)).toThrow(/share the version 20990101000000/);
  });
});

describe('migrate on a database migrated before the renames', () => {
  const all = readMigrations();
  const expected = all.map((m) => ({ version: m.version, name: m.name }));

  it('names every renamed migration by a file that exists, and the old version by none', () => {
    const versions = new Set(all.map((m) => m.version));
    for (const [old, current] of Object.entries(renamedVersions)) {
      expect(versions.has(current), current).toBe(true);
      expect(versions.has(old), old).toBe(false);
    }
  });

  it('is up to date: the old versions are recorded under the new ones and nothing runs again', async () => {
    const old = await emptyDatabase(`migrations_old_${suffix}`);
    await migrate(old);
    await recordOldVersions(old);
    expect((await recorded(old)).map((r) => r.version)).toContain('20261206180000');
    // Any file run again would fail (its tables and policies exist): an empty list means none ran.
    expect(await migrate(old)).toEqual([]);
    expect(await recorded(old)).toEqual(expected);
  });

  it('applies what it lacks, in order, when it stopped half-way through the renamed ones', async () => {
    const half = await emptyDatabase(`migrations_half_${suffix}`);
    const upToEvents = all.findIndex((m) => m.name === 'events_and_webhooks') + 1;
    await migrate(half, all.slice(0, upToEvents));
    await recordOldVersions(half); // 20261206090000 and 20261206100000, which sorted after every file that followed
    expect(await migrate(half)).toEqual(all.slice(upToEvents).map((m) => m.version));
    expect(await recorded(half)).toEqual(expected);
  });

  it('drops an old record whose new version is recorded too (a history repaired by halves)', async () => {
    await db`insert into supabase_migrations.schema_migrations (version, name) values ('20261206180000', 'takeover_event')`;
    expect(await migrate(db)).toEqual([]);
    expect(await recorded(db)).toEqual(expected);
  });
});

describe('migrate with a file that sorts before the latest one applied', () => {
  const late: Migration = { version: '20261206070000', name: 'late', sql: 'create table staffroom.late_probe (id int);' };
  const next: Migration = { version: '20990101000001', name: 'next', sql: 'create table staffroom.next_probe (id int);' };
  const withLate = (): Migration[] => [...readMigrations(), late, next].sort((a, b) => a.version.localeCompare(b.version));

  it('refuses, naming the file and --include-all, and applies nothing (not even the files after it)', async () => {
    const refusal = await migrate(db, withLate()).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(OutOfOrderMigrationsError);
    expect((refusal as Error).message).toContain(
      `inserted before the last migration on the database (${readMigrations().at(-1)!.version})`,
    );
    expect((refusal as Error).message).toMatch(/--include-all/);
    expect((refusal as Error).message).toContain('supabase/migrations/20261206070000_late.sql');
    expect((refusal as Error).message).not.toContain('20990101000001');
    const [state] =
      await db`select to_regclass('staffroom.late_probe') is null as late_absent, to_regclass('staffroom.next_probe') is null as next_absent,
      (select count(*)::int from supabase_migrations.schema_migrations where version in ('20261206070000', '20990101000001')) as recorded`;
    expect(state).toEqual({ late_absent: true, next_absent: true, recorded: 0 });
  });

  it('applies them in order with includeAll', async () => {
    expect(await migrate(db, withLate(), { includeAll: true })).toEqual(['20261206070000', '20990101000001']);
    expect(await migrate(db, withLate())).toEqual([]);
  });
});
