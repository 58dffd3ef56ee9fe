// The migration runner: in order, once each, one transaction per file, on a database without Supabase.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { connect, type Db } from '../../src/db/client.js';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { databaseUrl } from '../support/database-url.js';

let admin: Db;
let db: Db;
const name = `migrations_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  admin = connect(inject('clusterUrl'), { max: 1 });
  await admin.unsafe(`create database ${name}`); // empty: no auth schema, no roles of ours (the shim adds them)
  db = connect(databaseUrl(inject('clusterUrl'), name), { max: 2 });
});
afterAll(async () => {
  await db.end();
  await admin.unsafe(`drop database if exists ${name} with (force)`);
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
});
