// One migration history for `supabase db push` and `npm run db:migrate`: a migration carries the UTC time it was
// made (`npm run db:new`, `supabase migration new`), never a later one, so that a migration made after it always
// sorts after it. A stamp later than the commit that added the file is the fault that made the CLI refuse new
// migrations ("Found local migration files to be inserted before the last migration on remote database").
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationStamp, newMigrationFile, readMigrations } from '../../src/db/migrate.js';

const root = resolve(import.meta.dirname, '../..');

/**
 * Released with hand-picked round stamps later than the commits that added them. Renaming them now would make
 * every database that applied them re-run them, so they keep their versions; they are all in the past, so a
 * migration made now still sorts after them. Nothing is ever added to this list.
 */
const grandfathered = new Set([
  '20261125090000', // identity_and_tenancy, committed 2026-11-25T07:14:54Z
  '20261125100000', // accept_invitation, 07:37:46Z
  '20261125110000', // employees, 07:48:59Z
  '20261125120000', // tasks, 07:57:04Z
  '20261125130000', // credits, 08:06:23Z
  '20261125140000', // stripe_billing, 08:12:52Z
  '20261126090000', // private_schema, 2026-11-26T01:03:58Z
  '20261126120000', // error_codes, 02:19:19Z
]);

function git(args: string[]): string | undefined {
  const run = spawnSync('git', args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return run.status === 0 ? run.stdout : undefined;
}

/**
 * When each migration file was added: the time of the newest commit that added it at its path (a rename adds
 * the new path), or now for a file not committed yet. Undefined where history can't tell (no git, or a shallow clone, whose first commit
 * seems to add every file): then only "not in the future" is checked.
 */
function addedAt(now: Date): Map<string, Date> | undefined {
  if (git(['rev-parse', '--is-shallow-repository'])?.trim() !== 'false') return undefined;
  const log = git(['log', '--no-renames', '--diff-filter=A', '--name-only', '--format=%x00%cI', '--', 'supabase/migrations']);
  if (log === undefined) return undefined;
  const added = new Map<string, Date>();
  for (const entry of log.split('\0').slice(1)) {
    const [time, ...files] = entry.trim().split('\n');
    for (const file of files) if (!added.has(file)) added.set(file, new Date(time!)); // newest first
  }
  for (const { version, name } of readMigrations()) {
    const file = `supabase/migrations/${version}_${name}.sql`;
    if (!added.has(file)) added.set(file, now);
  }
  return added;
}

const stampTime = (version: string): Date =>
  new Date(
    `${version.slice(0, 4)}-${version.slice(4, 6)}-${version.slice(6, 8)}T${version.slice(8, 10)}:${version.slice(10, 12)}:${version.slice(12, 14)}Z`,
  );

describe('migration stamps', () => {
  const migrations = readMigrations();
  const now = new Date();
  const added = addedAt(now);
  const fileOf = (m: { version: string; name: string }): string => `supabase/migrations/${m.version}_${m.name}.sql`;

  it('are unique and the files sort by them', () => {
    const versions = migrations.map((m) => m.version);
    expect(new Set(versions).size).toBe(versions.length);
    expect([...versions].sort()).toEqual(versions);
    expect(readdirSync(resolve(root, 'supabase/migrations')).filter((f) => f.endsWith('.sql'))).toHaveLength(versions.length);
  });

  it('are never later than the commit that added the file (or, without history, than now)', () => {
    const late = migrations
      .filter((m) => !grandfathered.has(m.version))
      .filter((m) => stampTime(m.version) > (added?.get(fileOf(m)) ?? now))
      .map((m) => `${fileOf(m)} is stamped after ${added?.get(fileOf(m))?.toISOString() ?? 'now'}`);
    expect(late, 'stamp a migration with the time it was made: npm run db:new -- <name>').toEqual([]);
  });

  it('sort in the order the files were added: none lands before one already committed', () => {
    if (!added) return; // no history to read the order from
    const times = migrations.map((m) => added.get(fileOf(m))!.getTime());
    const outOfOrder = migrations.filter((_, i) => i > 0 && times[i]! < Math.max(...times.slice(0, i))).map(fileOf);
    expect(outOfOrder, 'supabase db push refuses these on a database that applied a later one').toEqual([]);
  });

  it('grandfathers only released files that are still late', () => {
    const versions = new Set(migrations.map((m) => m.version));
    for (const version of grandfathered) expect(versions.has(version), version).toBe(true);
    if (!added) return;
    const stillLate = migrations.filter((m) => grandfathered.has(m.version) && stampTime(m.version) > added.get(fileOf(m))!);
    expect(stillLate.map((m) => m.version)).toEqual([...grandfathered]);
  });
});

describe('npm run db:new', () => {
  const existing = [{ version: '20261206070857', name: 'takeover_event' }];

  it('stamps a snake_case name with the UTC time', () => {
    expect(migrationStamp(new Date('2026-12-06T08:04:05.678Z'))).toBe('20261206080405');
    expect(newMigrationFile('add_things', new Date('2026-12-06T08:04:05Z'), existing)).toBe('20261206080405_add_things.sql');
  });

  it('refuses a name that is not snake_case', () => {
    for (const name of ['AddThings', 'add-things', 'add things', '_add', 'add__things', '1add', ''])
      expect(() => newMigrationFile(name, new Date('2026-12-07T00:00:00Z'), existing), name).toThrow(/snake_case/);
  });

  it('refuses a stamp that would not sort after the latest file, and says why', () => {
    expect(() => newMigrationFile('x', new Date('2026-12-06T07:00:00Z'), existing)).toThrow(
      /would not sort after the latest one, supabase\/migrations\/20261206070857_takeover_event\.sql, which is stamped in the future.*supabase db push refuses/s,
    );
    expect(() => newMigrationFile('x', new Date('2026-12-06T07:08:57Z'), existing)).toThrow(/this very second/);
  });

  it('writes the file with the header template, and exits 1 on a bad name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'db-new-'));
    writeFileSync(join(dir, '20261125090000_first.sql'), 'select 1;');
    const before = migrationStamp(new Date());
    const run = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/db-new.ts', '--dir', dir, 'add_things'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    const [file] = readdirSync(dir).filter((f) => f.endsWith('_add_things.sql'));
    expect(run.trim()).toBe(join(dir, file!));
    expect(file!.slice(0, 14) >= before && file!.slice(0, 14) <= migrationStamp(new Date())).toBe(true);
    const text = readFileSync(join(dir, file!), 'utf8');
    expect(text).toMatch(/^-- /);
    expect(text).toContain('set search_path = pg_catalog, pg_temp');
    const refused = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/db-new.ts', '--dir', dir, 'Bad-Name'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/snake_case/);
  });
});
