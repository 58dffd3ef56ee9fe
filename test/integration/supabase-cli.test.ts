// The Supabase CLI (a pinned dev dependency) on the same migrations as `npm run db:migrate`, each on a fresh
// database of the embedded cluster: `supabase db push` after the shim builds the same catalog, `supabase
// migration list` sees db:migrate's history as its own, `supabase db advisors` finds no WARN or ERROR, both refuse
// an out-of-order file alike, and the README's `supabase migration repair` commands fix a pre-rename history.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { connect, type Db } from '../../src/db/client.js';
import { migrate, OutOfOrderMigrationsError, readMigrations, renamedVersions } from '../../src/db/migrate.js';
import { databaseUrl } from '../support/database-url.js';

const root = resolve(import.meta.dirname, '../..');
const cli = resolve(root, 'node_modules/.bin/supabase');
const shim = readFileSync(resolve(root, 'src/db/supabase-shim.sql'), 'utf8');
const home = mkdtempSync(join(tmpdir(), 'supabase-home-'));
const suffix = randomBytes(4).toString('hex');
const workdirs: string[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI, never waiting on a prompt or the network: no telemetry, no update check, its state in a temp dir. */
function supabase(args: string[], workdir = root): Promise<Run> {
  return new Promise((resolveRun) => {
    execFile(
      cli,
      [...args, '--workdir', workdir, '--agent', 'no'],
      {
        cwd: workdir,
        timeout: 90_000,
        killSignal: 'SIGTERM', // the npm wrapper passes it on to the CLI's binary (SIGKILL would orphan it)
        maxBuffer: 16 * 1024 * 1024,
        env: {
          ...process.env,
          DO_NOT_TRACK: '1',
          SUPABASE_TELEMETRY_DISABLED: '1',
          SUPABASE_NO_UPDATE_NOTIFIER: '1',
          SUPABASE_HOME: home,
          NO_COLOR: '1',
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolveRun({ code, stdout, stderr });
      },
    ).stdin?.end();
  });
}

/** What the CLI takes: the database URL, percent-encoded, without TLS (the embedded cluster has none). */
const cliUrl = (name: string): string => `${databaseUrl(inject('clusterUrl'), name)}?sslmode=disable`;

let admin: Db;
const databases: { name: string; db: Db }[] = [];

async function emptyDatabase(label: string): Promise<{ name: string; db: Db }> {
  const name = `cli_${label}_${suffix}`;
  await admin.unsafe(`create database ${name}`);
  const entry = { name, db: connect(databaseUrl(inject('clusterUrl'), name), { max: 1 }) };
  databases.push(entry);
  return entry;
}

/** The documented step before `supabase db push` on a Postgres that is not Supabase: the shim, in one transaction. */
async function applyShim(db: Db): Promise<void> {
  await db.begin((tx) => tx.unsafe(shim));
}

/**
 * The catalog as both deploy paths must leave it: every schema but Postgres's own and the CLI's history
 * (supabase_migrations, compared apart), with its relations, columns, constraints, indexes, functions (their
 * bodies by hash), policies, triggers, types, grants, default privileges, the API roles and the database's ACL.
 */
async function catalog(db: Db): Promise<string[]> {
  const rows = await db<{ line: string }[]>`
    with ns as (
      select oid, nspname from pg_namespace
      where nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'supabase_migrations')
        and nspname not like 'pg\\_temp\\_%' and nspname not like 'pg\\_toast\\_temp\\_%'
    )
    select 'schema ' || n.nspname || ' owner ' || pg_get_userbyid(n.nspowner) || ' acl ' || coalesce(n.nspacl::text, '-') as line
      from pg_namespace n join ns using (oid)
    union all
    select 'relation ' || ns.nspname || '.' || c.relname || ' kind ' || c.relkind::text || ' rls ' || c.relrowsecurity
        || ' force ' || c.relforcerowsecurity || ' owner ' || pg_get_userbyid(c.relowner) || ' acl ' || coalesce(c.relacl::text, '-')
        || ' options ' || coalesce(c.reloptions::text, '-')
      from pg_class c join ns on ns.oid = c.relnamespace
    union all
    select 'column ' || ns.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
        || case when a.attnotnull then ' not null' else '' end || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
        || ' generated ' || a.attgenerated::text || ' identity ' || a.attidentity::text || ' acl ' || coalesce(a.attacl::text, '-')
      from pg_attribute a join pg_class c on c.oid = a.attrelid join ns on ns.oid = c.relnamespace
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where a.attnum > 0 and not a.attisdropped
    union all
    select 'constraint ' || ns.nspname || '.' || coalesce(c.relname, t.typname) || '.' || co.conname || ' ' || pg_get_constraintdef(co.oid)
      from pg_constraint co join ns on ns.oid = co.connamespace
      left join pg_class c on c.oid = co.conrelid left join pg_type t on t.oid = co.contypid
    union all
    select 'index ' || pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c on c.oid = i.indexrelid join ns on ns.oid = c.relnamespace
    union all
    select 'function ' || p.oid::regprocedure::text || ' returns ' || coalesce(pg_get_function_result(p.oid), '-') || ' kind ' || p.prokind::text
        || ' language ' || l.lanname || ' definer ' || p.prosecdef || ' volatility ' || p.provolatile::text || ' strict ' || p.proisstrict
        || ' config ' || coalesce(p.proconfig::text, '-') || ' owner ' || pg_get_userbyid(p.proowner) || ' acl ' || coalesce(p.proacl::text, '-')
        || ' body ' || md5(coalesce(p.prosrc, ''))
      from pg_proc p join ns on ns.oid = p.pronamespace join pg_language l on l.oid = p.prolang
    union all
    select 'policy ' || schemaname || '.' || tablename || '.' || policyname || ' ' || permissive || ' ' || cmd || ' to ' || roles::text
        || ' using ' || coalesce(qual, '-') || ' check ' || coalesce(with_check, '-')
      from pg_policies
    union all
    select 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
      from pg_trigger t join pg_class c on c.oid = t.tgrelid join ns on ns.oid = c.relnamespace where not t.tgisinternal
    union all
    select 'type ' || format_type(t.oid, null) || ' ' || t.typtype::text || ' owner ' || pg_get_userbyid(t.typowner) || ' acl ' || coalesce(t.typacl::text, '-')
        || coalesce(' values ' || (select string_agg(e.enumlabel, ',' order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid), '')
      from pg_type t join ns on ns.oid = t.typnamespace
      where t.typtype in ('d', 'e', 'r', 'm') or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c')
    union all
    select 'default privileges ' || pg_get_userbyid(d.defaclrole) || ' in ' || coalesce(n.nspname, '*') || ' on ' || d.defaclobjtype::text || ' ' || d.defaclacl::text
      from pg_default_acl d left join pg_namespace n on n.oid = d.defaclnamespace
    union all
    select 'role ' || rolname || ' login ' || rolcanlogin || ' inherit ' || rolinherit || ' bypassrls ' || rolbypassrls || ' super ' || rolsuper
      from pg_roles where rolname in ('anon', 'authenticated', 'service_role')
    union all
    select 'database acl ' || coalesce(datacl::text, '-') from pg_database where datname = current_database()
    union all
    select 'extension ' || extname || ' ' || extversion from pg_extension
    union all
    select 'event trigger ' || evtname from pg_event_trigger
    union all
    select 'publication ' || pubname from pg_publication`;
  return rows.map((r) => r.line).sort();
}

async function history(db: Db): Promise<{ version: string; name: string }[]> {
  return db<{ version: string; name: string }[]>`select version, name from supabase_migrations.schema_migrations order by version`;
}

/** `supabase migration list` as JSON: one row per version, local and remote side by side. */
async function migrationList(name: string, workdir = root): Promise<{ local: string; remote: string }[]> {
  const run = await supabase(['migration', 'list', '--db-url', cliUrl(name), '--output-format', 'json'], workdir);
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { migrations: { local: string; remote: string }[] }).migrations.map(({ local, remote }) => ({
    local,
    remote,
  }));
}

let pushed: { name: string; db: Db };
let migrated: { name: string; db: Db };
const versions = readMigrations().map((m) => m.version);

beforeAll(async () => {
  admin = connect(inject('clusterUrl'), { max: 1 });
  pushed = await emptyDatabase('push');
  migrated = await emptyDatabase('migrate');
});
afterAll(async () => {
  for (const { name, db } of databases) {
    await db.end();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
  }
  await admin.end();
  for (const dir of [home, ...workdirs]) rmSync(dir, { recursive: true, force: true });
});

describe('the Supabase CLI on the migrations', { timeout: 120_000 }, () => {
  it('is installed at the version package.json pins', async () => {
    const pinned = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> })
      .devDependencies.supabase;
    const run = await supabase(['--version']);
    expect(run.code, `${cli}: ${run.stderr}`).toBe(0);
    expect(run.stdout.trim()).toBe(pinned);
  });

  it('db push stops at the first file on a plain Postgres without the shim: there is no auth schema', async () => {
    const plain = await emptyDatabase('plain');
    const run = await supabase(['db', 'push', '--db-url', cliUrl(plain.name), '--yes']);
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/schema "auth" does not exist/);
    expect(run.stdout + run.stderr).toContain(`Applying migration ${versions[0]}_`);
  });

  it('db push after the shim builds the catalog db:migrate builds, and records the same history', async () => {
    await applyShim(pushed.db);
    const run = await supabase(['db', 'push', '--db-url', cliUrl(pushed.name), '--yes']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout + run.stderr).toContain('Finished supabase db push.');
    expect(await migrate(migrated.db)).toEqual(versions);

    const [fromPush, fromMigrate] = [await catalog(pushed.db), await catalog(migrated.db)];
    expect(fromPush).toEqual(fromMigrate);
    const kinds: Record<string, number> = {};
    for (const line of fromMigrate) kinds[line.split(' ')[0]!] = (kinds[line.split(' ')[0]!] ?? 0) + 1;
    console.info(
      `catalogs compared: ${fromMigrate.length} entries (${Object.entries(kinds)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')})`,
    );
    expect(kinds).toMatchObject({ schema: 3, policy: expect.any(Number), function: expect.any(Number) });
    expect(fromMigrate.length).toBeGreaterThan(500);
    expect(await history(pushed.db)).toEqual(await history(migrated.db));
    // And the other way round: db:migrate finds nothing to do where the CLI pushed, nor the CLI where db:migrate ran.
    expect(await migrate(pushed.db)).toEqual([]);
    const again = await supabase(['db', 'push', '--db-url', cliUrl(migrated.name), '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).toContain('Remote database is up to date.');
  });

  it('migration list shows every local migration applied, on either database', async () => {
    const expected = versions.map((version) => ({ local: version, remote: version }));
    expect(await migrationList(migrated.name)).toEqual(expected);
    expect(await migrationList(pushed.name)).toEqual(expected);
  });

  it('db advisors --type all --fail-on warn passes on the migrated database: INFO only, all of it intended', async () => {
    const failOn = await supabase(['db', 'advisors', '--db-url', cliUrl(migrated.name), '--type', 'all', '--fail-on', 'warn']);
    expect(failOn.code, failOn.stdout + failOn.stderr).toBe(0);

    const run = await supabase([
      'db',
      'advisors',
      '--db-url',
      cliUrl(migrated.name),
      '--type',
      'all',
      '--level',
      'info',
      '--output-format',
      'json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const results = (JSON.parse(run.stdout) as { results: { name: string; level: string; detail: string }[] }).results;
    const byLevel: Record<string, typeof results> = {};
    for (const result of results) (byLevel[`${result.level} ${result.name}`] ??= []).push(result);
    console.info(
      `advisors: ${Object.entries(byLevel)
        .map(([kind, items]) => `${items.length} ${kind}`)
        .join(', ')}`,
    );
    // Indexes are unused on a database that served nothing yet; they back the API's lookups and foreign keys.
    expect(Object.keys(byLevel).sort()).toEqual(['INFO rls_enabled_no_policy', 'INFO unused_index']);
    // Tables only SECURITY DEFINER functions or the service role read: RLS on and no policy denies the API roles.
    const noPolicy = byLevel['INFO rls_enabled_no_policy']!.map((r) => /`([^`]+)`/.exec(r.detail)?.[1]).sort();
    expect(noPolicy).toEqual([
      'staffroom.credit_purchases',
      'staffroom.event_counters',
      'staffroom.event_wake_key',
      'staffroom.free_grants',
      'staffroom.idempotency_keys',
      'staffroom.models',
      'staffroom.plans',
      'staffroom.rate_limits',
      'staffroom.stripe_events',
    ]);
  });

  it('the README repair commands bring a history recorded before the renames in line with the files', async () => {
    const old = await emptyDatabase('repair');
    await applyShim(old.db);
    expect((await supabase(['db', 'push', '--db-url', cliUrl(old.name), '--yes'])).code).toBe(0);
    for (const [before, after] of Object.entries(renamedVersions)) {
      await old.db`update supabase_migrations.schema_migrations set version = ${before} where version = ${after}`;
    }
    const refused = await supabase(['db', 'push', '--db-url', cliUrl(old.name), '--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toMatch(/Remote migration versions not found in local migrations directory/);

    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    const repairs = [...readme.matchAll(/^npx supabase migration repair --status (reverted|applied) ([\d ]+)$/gm)];
    expect(repairs.map((m) => m[1])).toEqual(['reverted', 'applied']);
    expect(repairs[0]![2]!.split(' ')).toEqual(Object.keys(renamedVersions));
    expect(repairs[1]![2]!.split(' ')).toEqual(Object.values(renamedVersions));
    for (const [, status, list] of repairs) {
      const run = await supabase(['migration', 'repair', '--status', status!, ...list!.split(' '), '--db-url', cliUrl(old.name), '--yes']);
      expect(run.code, run.stdout + run.stderr).toBe(0);
    }
    const upToDate = await supabase(['db', 'push', '--db-url', cliUrl(old.name), '--yes']);
    expect(upToDate.stdout + upToDate.stderr).toContain('Remote database is up to date.');
    expect(await migrate(old.db)).toEqual([]);
    expect((await history(old.db)).map((r) => r.version)).toEqual(versions);
  });

  it('db push and db:migrate refuse the same out-of-order file, and both apply it with --include-all', async () => {
    const workdir = mkdtempSync(join(tmpdir(), 'supabase-workdir-'));
    workdirs.push(workdir);
    cpSync(resolve(root, 'supabase/migrations'), join(workdir, 'supabase/migrations'), { recursive: true });
    const late = `${versions.at(-1)!.slice(0, 8)}000000`; // earlier the same day as the latest migration
    writeFileSync(join(workdir, `supabase/migrations/${late}_late.sql`), 'create table staffroom.late_probe (id int);\n');
    const withLate = readMigrations(join(workdir, 'supabase/migrations'));

    const push = await supabase(['db', 'push', '--db-url', cliUrl(pushed.name), '--yes'], workdir);
    expect(push.code).not.toBe(0);
    expect(push.stdout + push.stderr).toContain('Found local migration files to be inserted before the last migration on remote database.');
    expect(push.stdout + push.stderr).toContain(`supabase/migrations/${late}_late.sql`);
    const refusal = await migrate(migrated.db, withLate).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(OutOfOrderMigrationsError);
    expect((refusal as Error).message).toContain(`supabase/migrations/${late}_late.sql`);

    const pushAll = await supabase(['db', 'push', '--include-all', '--db-url', cliUrl(pushed.name), '--yes'], workdir);
    expect(pushAll.code, pushAll.stdout + pushAll.stderr).toBe(0);
    expect(await catalog(pushed.db)).not.toEqual(await catalog(migrated.db)); // the comparison sees one table
    expect(await migrate(migrated.db, withLate, { includeAll: true })).toEqual([late]);
    expect(await catalog(pushed.db)).toEqual(await catalog(migrated.db));
    expect(await migrationList(migrated.name, workdir)).toEqual(withLate.map((m) => ({ local: m.version, remote: m.version })));
  });
});
