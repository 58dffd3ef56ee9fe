// The privilege matrix: what anon, authenticated and service_role hold on every schema, table, view, sequence
// and function is exactly what supabase/privileges.yaml allows, and the rules that make it safe hold on their own.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const allowListPath = resolve(import.meta.dirname, '../../supabase/privileges.yaml');
const apiRoles = ['anon', 'authenticated', 'service_role'] as const;
type Grantee = (typeof apiRoles)[number] | 'PUBLIC';
const grantees: readonly Grantee[] = [...apiRoles, 'PUBLIC'];

/** Privilege (lower case) → `all` when held on the whole object, else the columns it covers. */
type Grants = Record<string, 'all' | string[]>;
type RoleGrants = Record<Grantee, Grants>;
type RoleLists = Record<Grantee, string[]>;
interface Table {
  rls: boolean;
  grants: RoleGrants;
}
interface View {
  materialized: boolean;
  security_invoker: boolean;
  grants: RoleGrants;
}
interface Fn {
  security_definer: boolean;
  config: string[];
  execute: Grantee[];
}
interface Catalog {
  databases: Record<string, RoleLists>;
  schemas: Record<string, RoleLists>;
  tables: Record<string, Table>;
  views: Record<string, View>;
  sequences: Record<string, RoleGrants>;
  functions: Record<string, Fn>;
  default_privileges: Record<string, RoleLists>;
}
type Section = keyof Catalog;
const sections: readonly Section[] = ['databases', 'schemas', 'tables', 'views', 'sequences', 'functions', 'default_privileges'];

const nonSystem = (column: string): string =>
  `${column} not in ('pg_catalog', 'information_schema', 'pg_toast') and ${column} !~ '^pg_(toast_)?temp_'`;

// PUBLIC (grantee 0) counts for every role; so does any role an API role is a member of.
const granteesCte = `grantees as (
    select r.oid, r.rolname::text as name from pg_roles r where r.rolname in ('anon', 'authenticated', 'service_role')
    union all select 0::oid, 'PUBLIC'
  )`;
const holds = `case when a.grantee = 0 then true when g.oid = 0 then false else pg_has_role(g.oid, a.grantee, 'MEMBER') end`;

interface GrantRow {
  object: string;
  grantee: Grantee;
  privilege: string;
  column: string | null;
  grantable: boolean;
}

const emptyRoleGrants = (): RoleGrants => ({ anon: {}, authenticated: {}, service_role: {}, PUBLIC: {} });
const emptyRoleLists = (): RoleLists => ({ anon: [], authenticated: [], service_role: [], PUBLIC: [] });

function addGrant(grants: RoleGrants, row: GrantRow): void {
  const held = grants[row.grantee];
  const current = held[row.privilege];
  if (row.column === null) held[row.privilege] = 'all';
  else if (current !== 'all') held[row.privilege] = [...(current ?? []), row.column];
}

async function grantRows(db: Db): Promise<GrantRow[]> {
  return db.unsafe<GrantRow[]>(`
    with ${granteesCte},
    rels as (
      select c.oid, format('%I.%I', n.nspname, c.relname) as object, c.relkind, c.relowner, c.relacl
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S') and ${nonSystem('n.nspname')}
    ),
    rows as (
      select r.object, g.name as grantee, lower(a.privilege_type) as privilege, null::text as "column", 0 as attnum, a.is_grantable as grantable
      from rels r
      cross join lateral aclexplode(coalesce(r.relacl, acldefault((case r.relkind when 'S' then 's' else 'r' end)::"char", r.relowner))) a
      join grantees g on ${holds}
      union all
      select r.object, g.name, lower(a.privilege_type), att.attname::text, att.attnum, a.is_grantable
      from rels r
      join pg_attribute att on att.attrelid = r.oid and att.attnum > 0 and not att.attisdropped
      cross join lateral aclexplode(att.attacl) a
      join grantees g on ${holds}
      union all
      select format('%I', n.nspname), g.name, lower(a.privilege_type), null, 0, a.is_grantable
      from pg_namespace n
      cross join lateral aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
      join grantees g on ${holds}
      where ${nonSystem('n.nspname')}
      union all
      select format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)), g.name, lower(a.privilege_type), null, 0, a.is_grantable
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
      join grantees g on ${holds}
      where ${nonSystem('n.nspname')}
    )
    select object, grantee, privilege, "column", grantable from rows order by object, grantee, privilege, attnum`);
}

const privilegeOrder = [
  'usage',
  'create',
  'temporary',
  'connect',
  'select',
  'insert',
  'update',
  'delete',
  'truncate',
  'references',
  'trigger',
  'maintain',
  'execute',
];
const inPrivilegeOrder = (privileges: string[]): string[] =>
  [...privileges].sort((a, b) => (privilegeOrder.indexOf(a) + 1 || 99) - (privilegeOrder.indexOf(b) + 1 || 99));

const defaultObjectTypes: Record<string, string> = {
  r: 'tables',
  S: 'sequences',
  f: 'functions',
  T: 'types',
  n: 'schemas',
  L: 'large objects',
};

async function readCatalog(db: Db): Promise<Catalog> {
  const catalog: Catalog = { databases: {}, schemas: {}, tables: {}, views: {}, sequences: {}, functions: {}, default_privileges: {} };
  const relationSection = new Map<string, RoleGrants>();

  // The database the migrations ran in is `current`, whatever its name (a copy of the template here).
  const current = (catalog.databases.current = emptyRoleLists());
  for (const row of await db.unsafe<{ grantee: Grantee; privilege: string }[]>(`
    with ${granteesCte}
    select g.name as grantee, lower(a.privilege_type) as privilege
    from pg_database d
    cross join lateral aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
    join grantees g on ${holds}
    where d.datname = current_database()`)) {
    current[row.grantee].push(row.privilege);
  }

  for (const s of await db.unsafe<{ name: string }[]>(
    `select format('%I', nspname) as name from pg_namespace n where ${nonSystem('n.nspname')} order by 1`,
  )) {
    catalog.schemas[s.name] = emptyRoleLists();
  }
  const relations = await db.unsafe<{ name: string; relkind: string; rls: boolean; options: string[] | null }[]>(`
    select format('%I.%I', n.nspname, c.relname) as name, c.relkind, c.relrowsecurity as rls, c.reloptions as options
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S') and ${nonSystem('n.nspname')} order by 1`);
  for (const r of relations) {
    const grants = emptyRoleGrants();
    relationSection.set(r.name, grants);
    if (r.relkind === 'S') catalog.sequences[r.name] = grants;
    else if (r.relkind === 'v' || r.relkind === 'm') {
      const invoker = (r.options ?? []).some((o) => /^security_invoker=(1|true|yes|on)$/i.test(o));
      catalog.views[r.name] = { materialized: r.relkind === 'm', security_invoker: invoker, grants };
    } else catalog.tables[r.name] = { rls: r.rls, grants };
  }
  const functions = await db.unsafe<{ name: string; definer: boolean; config: string[] | null }[]>(`
    select format('%I.%I(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes)) as name, p.prosecdef as definer, p.proconfig as config
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace where ${nonSystem('n.nspname')} order by 1`);
  for (const f of functions) catalog.functions[f.name] = { security_definer: f.definer, config: f.config ?? [], execute: [] };

  for (const row of await grantRows(db)) {
    const relation = relationSection.get(row.object);
    const schema = catalog.schemas[row.object];
    const fn = catalog.functions[row.object];
    if (relation) addGrant(relation, row);
    else if (schema) schema[row.grantee].push(row.privilege);
    else if (fn && row.privilege === 'execute') fn.execute.push(row.grantee);
  }
  for (const f of Object.values(catalog.functions)) f.execute = grantees.filter((g) => f.execute.includes(g));

  const defaults = await db.unsafe<
    { type: string; creator: string; schema: string | null; grantee: Grantee | null; privilege: string | null }[]
  >(`
    with ${granteesCte}
    select d.defaclobjtype::text as type, d.defaclrole::regrole::text as creator, quote_ident(n.nspname) as schema,
           g.name as grantee, lower(a.privilege_type) as privilege
    from pg_default_acl d
    left join pg_namespace n on n.oid = d.defaclnamespace
    left join lateral aclexplode(d.defaclacl) a on true
    left join grantees g on ${holds}`);
  for (const d of defaults) {
    const name = `${defaultObjectTypes[d.type] ?? d.type} created by ${d.creator} in ${d.schema ?? 'any schema'}`;
    const lists = (catalog.default_privileges[name] ??= emptyRoleLists());
    if (d.grantee && d.privilege && !lists[d.grantee].includes(d.privilege)) lists[d.grantee].push(d.privilege);
  }
  for (const lists of [
    ...Object.values(catalog.databases),
    ...Object.values(catalog.schemas),
    ...Object.values(catalog.default_privileges),
  ]) {
    for (const g of grantees) lists[g] = inPrivilegeOrder([...new Set(lists[g])]);
  }
  for (const grants of [...Object.values(catalog.tables), ...Object.values(catalog.views)]
    .map((r) => r.grants)
    .concat(Object.values(catalog.sequences))) {
    for (const g of grantees) grants[g] = Object.fromEntries(inPrivilegeOrder(Object.keys(grants[g])).map((p) => [p, grants[g][p]!]));
  }
  return catalog;
}

// --- The allow-list file, read into the same shape; every entry must say why. ---

type Entry = Record<string, unknown>;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** `none`, or a list of privileges (schemas, default privileges). */
function readRoleList(where: string, value: unknown, problems: string[]): string[] {
  if (value === 'none') return [];
  if (isStringList(value)) return value;
  problems.push(`${where}: expected \`none\` or a list of privileges, found ${JSON.stringify(value)}`);
  return [];
}

/** `none`, or privilege → `all` | [columns] (tables, views, sequences). */
function readGrants(where: string, value: unknown, problems: string[]): Grants {
  if (value === 'none') return {};
  if (!isRecord(value)) {
    problems.push(`${where}: expected \`none\` or a map of privilege to \`all\` or a list of columns, found ${JSON.stringify(value)}`);
    return {};
  }
  const grants: Grants = {};
  for (const [privilege, scope] of Object.entries(value)) {
    if (scope === 'all' || isStringList(scope)) grants[privilege] = scope;
    else problems.push(`${where}.${privilege}: expected \`all\` or a list of columns, found ${JSON.stringify(scope)}`);
  }
  return grants;
}

const roleKeys = (entry: Entry, where: string, problems: string[], otherKeys: string[]): void => {
  for (const role of apiRoles) {
    if (!(role in entry)) problems.push(`${where}: says nothing for ${role} (write \`${role}: none\` when it holds nothing)`);
  }
  for (const key of Object.keys(entry)) {
    if (![...grantees, 'why', ...otherKeys].includes(key)) problems.push(`${where}: unknown key \`${key}\``);
  }
};

function readAllowList(problems: string[]): Catalog {
  const file: unknown = parse(readFileSync(allowListPath, 'utf8'));
  const catalog: Catalog = { databases: {}, schemas: {}, tables: {}, views: {}, sequences: {}, functions: {}, default_privileges: {} };
  if (!isRecord(file)) throw new Error('supabase/privileges.yaml must be a map of sections');
  for (const key of Object.keys(file)) if (!sections.includes(key as Section)) problems.push(`privileges.yaml: unknown section \`${key}\``);

  for (const section of sections) {
    const entries = file[section] ?? {};
    if (!isRecord(entries)) {
      problems.push(`privileges.yaml: ${section} must be a map`);
      continue;
    }
    for (const [name, raw] of Object.entries(entries)) {
      const where = `${section}: ${name}`;
      if (!isRecord(raw)) {
        problems.push(`${where}: must be a map`);
        continue;
      }
      if (typeof raw.why !== 'string' || !raw.why.trim()) problems.push(`${where}: needs a \`why\` line saying which rule makes it safe`);
      const grants = (): RoleGrants => {
        const result = emptyRoleGrants();
        for (const g of grantees) if (g in raw) result[g] = readGrants(`${where}.${g}`, raw[g], problems);
        return result;
      };
      const lists = (): RoleLists => {
        const result = emptyRoleLists();
        for (const g of grantees) if (g in raw) result[g] = readRoleList(`${where}.${g}`, raw[g], problems);
        return result;
      };
      const flag = (key: string): boolean => {
        if (typeof raw[key] !== 'boolean') problems.push(`${where}: \`${key}\` must be true or false`);
        return raw[key] === true;
      };
      switch (section) {
        case 'databases':
        case 'schemas':
        case 'default_privileges':
          roleKeys(raw, where, problems, []);
          catalog[section][name] = lists();
          break;
        case 'tables':
          roleKeys(raw, where, problems, ['rls']);
          catalog.tables[name] = { rls: flag('rls'), grants: grants() };
          break;
        case 'views':
          roleKeys(raw, where, problems, ['materialized', 'security_invoker']);
          catalog.views[name] = { materialized: flag('materialized'), security_invoker: flag('security_invoker'), grants: grants() };
          break;
        case 'sequences':
          roleKeys(raw, where, problems, []);
          catalog.sequences[name] = grants();
          break;
        case 'functions': {
          for (const key of Object.keys(raw)) {
            if (!['why', 'security_definer', 'config', 'execute'].includes(key)) problems.push(`${where}: unknown key \`${key}\``);
          }
          const execute = readRoleList(`${where}.execute`, raw.execute, problems);
          for (const g of execute) if (!grantees.includes(g as Grantee)) problems.push(`${where}.execute: unknown role ${g}`);
          catalog.functions[name] = {
            security_definer: flag('security_definer'),
            config: readRoleList(`${where}.config`, raw.config, problems),
            execute: execute as Grantee[],
          };
          break;
        }
      }
    }
  }
  return catalog;
}

// --- Comparing the two. ---

const show = (scope: 'all' | string[] | undefined): string =>
  scope === undefined ? 'nothing' : scope === 'all' ? 'all' : `[${scope.join(', ')}]`;

function diffGrants(where: string, live: Grants, allowed: Grants): string[] {
  const problems: string[] = [];
  for (const privilege of new Set([...Object.keys(live), ...Object.keys(allowed)])) {
    const have = live[privilege];
    const may = allowed[privilege];
    if (have === undefined) problems.push(`${where}: the file allows ${privilege} ${show(may)}, the database grants no ${privilege}`);
    else if (may === undefined) problems.push(`${where}: the database grants ${privilege} ${show(have)}, the file allows no ${privilege}`);
    else if (have === 'all' || may === 'all') {
      if (have !== may) problems.push(`${where}: ${privilege} is ${show(have)} in the database, ${show(may)} in the file`);
    } else {
      const extra = have.filter((c) => !may.includes(c));
      const missing = may.filter((c) => !have.includes(c));
      if (extra.length) problems.push(`${where}: ${privilege} granted on columns the file does not list: ${extra.join(', ')}`);
      if (missing.length) problems.push(`${where}: ${privilege} listed in the file but not granted on: ${missing.join(', ')}`);
    }
  }
  return problems;
}

function diffLists(where: string, live: string[], allowed: string[]): string[] {
  const extra = live.filter((p) => !allowed.includes(p));
  const missing = allowed.filter((p) => !live.includes(p));
  return [
    ...(extra.length ? [`${where}: in the database but not in the file: ${extra.join(', ')}`] : []),
    ...(missing.length ? [`${where}: in the file but not in the database: ${missing.join(', ')}`] : []),
  ];
}

const roleView = <T>(byRole: Record<Grantee, T>, isEmpty: (value: T) => boolean): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const g of grantees) {
    if (g === 'PUBLIC' && isEmpty(byRole[g])) continue;
    out[g] = isEmpty(byRole[g]) ? 'none' : byRole[g];
  }
  return out;
};
const grantsView = (grants: RoleGrants) => roleView(grants, (g) => Object.keys(g).length === 0);
const listsView = (lists: RoleLists) => roleView(lists, (l) => l.length === 0);

/** The entry to add for an object the file lacks, in the file's own shape. */
function entryFor(section: Section, name: string, catalog: Catalog): Entry {
  const why = 'TODO: which rule makes this safe';
  switch (section) {
    case 'databases':
    case 'schemas':
    case 'default_privileges':
      return { why, ...listsView(catalog[section][name]!) };
    case 'tables': {
      const t = catalog.tables[name]!;
      return { why, rls: t.rls, ...grantsView(t.grants) };
    }
    case 'views': {
      const v = catalog.views[name]!;
      return { why, materialized: v.materialized, security_invoker: v.security_invoker, ...grantsView(v.grants) };
    }
    case 'sequences':
      return { why, ...grantsView(catalog.sequences[name]!) };
    case 'functions': {
      const f = catalog.functions[name]!;
      return {
        why,
        security_definer: f.security_definer,
        config: f.config.length ? f.config : 'none',
        execute: f.execute.length ? f.execute : 'none',
      };
    }
  }
}

function diffEntry(section: Section, name: string, live: Catalog, allowed: Catalog): string[] {
  const where = `${section}: ${name}`;
  const problems: string[] = [];
  const diffRoleGrants = (a: RoleGrants, b: RoleGrants) => grantees.flatMap((g) => diffGrants(`${where} ${g}`, a[g], b[g]));
  const diffFlag = (key: string, a: boolean, b: boolean) => (a === b ? [] : [`${where}: ${key} is ${a} in the database, ${b} in the file`]);
  switch (section) {
    case 'databases':
    case 'schemas':
    case 'default_privileges': {
      const [a, b] = [live[section][name]!, allowed[section][name]!];
      return grantees.flatMap((g) => diffLists(`${where} ${g}`, a[g], b[g]));
    }
    case 'tables': {
      const [a, b] = [live.tables[name]!, allowed.tables[name]!];
      return [...diffFlag('rls', a.rls, b.rls), ...diffRoleGrants(a.grants, b.grants)];
    }
    case 'views': {
      const [a, b] = [live.views[name]!, allowed.views[name]!];
      return [
        ...diffFlag('materialized', a.materialized, b.materialized),
        ...diffFlag('security_invoker', a.security_invoker, b.security_invoker),
        ...diffRoleGrants(a.grants, b.grants),
      ];
    }
    case 'sequences':
      return diffRoleGrants(live.sequences[name]!, allowed.sequences[name]!);
    case 'functions': {
      const [a, b] = [live.functions[name]!, allowed.functions[name]!];
      problems.push(...diffFlag('security_definer', a.security_definer, b.security_definer));
      problems.push(...diffLists(`${where} config`, a.config, b.config));
      problems.push(...diffLists(`${where} execute`, a.execute, b.execute));
      return problems;
    }
  }
}

function compare(live: Catalog, allowed: Catalog): string[] {
  const problems: string[] = [];
  for (const section of sections) {
    const have = Object.keys(live[section]).sort();
    const listed = Object.keys(allowed[section]);
    for (const name of have) {
      if (!listed.includes(name)) {
        const fields = Object.entries(entryFor(section, name, live)).map(
          ([key, value]) => `    ${key}: ${stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim()}`,
        );
        const snippet = [`${section}:`, `  ${stringify(name).trim()}:`, ...fields].join('\n');
        problems.push(`${section}: ${name} is in the database but not in supabase/privileges.yaml; add it with a real why:\n${snippet}`);
      } else problems.push(...diffEntry(section, name, live, allowed));
    }
    for (const name of listed) {
      if (!have.includes(name))
        problems.push(`${section}: ${name} is in supabase/privileges.yaml but not in the database; remove the entry`);
    }
  }
  return problems;
}

// --- The tests. ---

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
});
afterAll(() => database.drop());

describe('privileges: the allow-list', () => {
  it('supabase/privileges.yaml names every object and exactly what each role holds on it', async () => {
    const problems: string[] = [];
    const allowed = readAllowList(problems);
    problems.push(...compare(await readCatalog(db), allowed));
    expect(problems, problems.join('\n\n')).toEqual([]);
  });
});

describe('privileges: the rules, checked without the allow-list', () => {
  const searchPath = 'search_path=pg_catalog, pg_temp';

  it('the API roles exist, are not superusers, and only service_role bypasses RLS', async () => {
    const roles = await db<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }[]>`
      select rolname, rolsuper, rolbypassrls from pg_roles where rolname in ('anon', 'authenticated', 'service_role') order by rolname`;
    expect(roles).toEqual([
      { rolname: 'anon', rolsuper: false, rolbypassrls: false },
      { rolname: 'authenticated', rolsuper: false, rolbypassrls: false },
      { rolname: 'service_role', rolsuper: false, rolbypassrls: true },
    ]);
  });

  it('(a) anon holds nothing in staffroom, not even USAGE', async () => {
    const held = await db<{ object: string }[]>`
      select 'schema staffroom ' || p as object from unnest(array['USAGE', 'CREATE']) p
        where has_schema_privilege('anon', 'staffroom', p)
      union all
      select format('%s %s', c.oid::regclass, p) from pg_class c
        cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN']) p
        where c.relnamespace = 'staffroom'::regnamespace and c.relkind in ('r', 'p', 'f', 'v', 'm') and has_table_privilege('anon', c.oid, p)
      union all
      select format('%s any column %s', c.oid::regclass, p) from pg_class c
        cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p
        where c.relnamespace = 'staffroom'::regnamespace and c.relkind in ('r', 'p', 'f', 'v', 'm') and has_any_column_privilege('anon', c.oid, p)
      union all
      select format('%s %s', c.oid::regclass, p) from pg_class c cross join unnest(array['USAGE', 'SELECT', 'UPDATE']) p
        where c.relnamespace = 'staffroom'::regnamespace and c.relkind = 'S' and has_sequence_privilege('anon', c.oid, p)
      union all
      select format('%s EXECUTE', p.oid::regprocedure) from pg_proc p
        where p.pronamespace = 'staffroom'::regnamespace and has_function_privilege('anon', p.oid, 'EXECUTE')`;
    expect(held.map((h) => h.object)).toEqual([]);
  });

  it('(a) schema public holds no objects at all', async () => {
    const objects = await db<{ object: string }[]>`
      select 'relation ' || relname as object from pg_class where relnamespace = 'public'::regnamespace
      union all select 'function ' || oid::regprocedure from pg_proc where pronamespace = 'public'::regnamespace
      union all select 'type ' || typname from pg_type where typnamespace = 'public'::regnamespace
      union all select 'operator ' || oprname from pg_operator where oprnamespace = 'public'::regnamespace
      union all select 'collation ' || collname from pg_collation where collnamespace = 'public'::regnamespace
      union all select 'extension ' || extname from pg_extension where extnamespace = 'public'::regnamespace
      union all select 'text search configuration ' || cfgname from pg_ts_config where cfgnamespace = 'public'::regnamespace`;
    expect(objects.map((o) => o.object)).toEqual([]);
  });

  it('(b) authenticated can change no table in staffroom: no INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER or MAINTAIN', async () => {
    const held = await db<{ object: string }[]>`
      select format('%s %s', c.oid::regclass, p) as object from pg_class c
        cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'MAINTAIN']) p
        where c.relnamespace = 'staffroom'::regnamespace and c.relkind in ('r', 'p', 'f', 'v', 'm') and has_table_privilege('authenticated', c.oid, p)
      union all
      select format('%s any column %s', c.oid::regclass, p) from pg_class c
        cross join unnest(array['INSERT', 'UPDATE', 'REFERENCES']) p
        where c.relnamespace = 'staffroom'::regnamespace and c.relkind in ('r', 'p', 'f', 'v', 'm') and has_any_column_privilege('authenticated', c.oid, p)`;
    expect(held.map((h) => h.object)).toEqual([]);
  });

  // `search_path = ''` still looks types and relations up in the temporary schema first: pg_temp goes last, by name.
  it('(c) every SECURITY DEFINER function in staffroom sets exactly search_path = pg_catalog, pg_temp and is executable by neither PUBLIC nor anon', async () => {
    const definers = await db<{ fn: string; config: string[] | null; public: boolean; anon: boolean }[]>`
      select p.oid::regprocedure::text as fn, p.proconfig as config,
             exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                     where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public,
             has_function_privilege('anon', p.oid, 'EXECUTE') as anon
      from pg_proc p where p.pronamespace = 'staffroom'::regnamespace and p.prosecdef order by 1`;
    expect(definers.length).toBeGreaterThan(0);
    const wrong = definers.flatMap((d) => [
      ...(d.config?.includes(searchPath) ? [] : [`${d.fn} does not set ${searchPath} (proconfig ${JSON.stringify(d.config)})`]),
      ...(d.public ? [`${d.fn} is executable by PUBLIC`] : []),
      ...(d.anon ? [`${d.fn} is executable by anon`] : []),
    ]);
    expect(wrong).toEqual([]);
  });

  it("(d) Supabase's linter finds no definer function executable through the exposed schemas, nor a function whose search_path is mutable (ours: every function sets pg_catalog, pg_temp)", async () => {
    const findings = await db.begin(async (tx) => {
      // Supabase's default exposed schemas, as the linter reads them from PostgREST's setting.
      await tx`select set_config('pgrst.db_schemas', 'public, graphql_public', true)`;
      return tx.unsafe<{ finding: string }[]>(`
        select format('%s executable by %s', p.oid::regprocedure, r.role) as finding
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        cross join (values ('anon'), ('authenticated')) r(role)
        where p.prosecdef and has_function_privilege(r.role, p.oid, 'EXECUTE')
          and n.nspname = any(array(select trim(unnest(string_to_array(current_setting('pgrst.db_schemas', true), ',')))))
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        union all
        select format('%s does not set ${searchPath}', p.oid::regprocedure)
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where ${nonSystem('n.nspname')} and n.nspname not in ('auth', 'supabase_migrations')
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
          and not coalesce(p.proconfig, '{}') && array['${searchPath}']`);
    });
    expect(findings.map((f) => f.finding)).toEqual([]);
  });

  it('(e) no policy calls auth.uid(), auth.jwt(), auth.role(), auth.email() or current_setting() once per row', async () => {
    const policies = await db.unsafe<{ policy: string; qual: string | null; with_check: string | null }[]>(`
      select format('%I.%I %s', schemaname, tablename, policyname) as policy, qual, with_check
      from pg_policies where ${nonSystem('schemaname')}`);
    expect(policies.length).toBeGreaterThan(0);
    const call = /\b(?:auth\.(?:uid|jwt|role|email)\(\)|(?:pg_catalog\.)?current_setting\()/gi;
    const perRow = policies.flatMap((p) =>
      (['qual', 'with_check'] as const).flatMap((part) => {
        const text = p[part] ?? '';
        // Wrapped as `(select auth.uid())` the call is an InitPlan, evaluated once per statement.
        return [...text.matchAll(call)]
          .filter((m) => !/select\s+\(*\s*$/i.test(text.slice(0, m.index)))
          .map((m) => `${p.policy} ${part}: ${m[0]} is not wrapped in (select ...)`);
      }),
    );
    expect(perRow).toEqual([]);
  });

  it('(f) every table in staffroom has row level security enabled', async () => {
    const tables = await db<{ name: string; rls: boolean }[]>`
      select oid::regclass::text as name, relrowsecurity as rls from pg_class
      where relnamespace = 'staffroom'::regnamespace and relkind in ('r', 'p') order by 1`;
    expect(tables.length).toBeGreaterThan(0);
    expect(tables.filter((t) => !t.rls).map((t) => t.name)).toEqual([]);
  });

  it('(g) no API role may create temporary objects: they could stand in for the types and tables a definer function names', async () => {
    const held = await db<{ role: string }[]>`
      select r.role from (values ('public'), ('anon'), ('authenticated'), ('service_role')) r(role)
      where has_database_privilege(r.role, current_database(), 'temporary')`;
    expect(held.map((h) => h.role)).toEqual([]);
  });

  it('nothing is granted WITH GRANT OPTION to PUBLIC or an API role, and no API role owns an object', async () => {
    const grantable = (await grantRows(db))
      .filter((r) => r.grantable)
      .map((r) => `${r.object} ${r.privilege}${r.column ? ` (${r.column})` : ''} to ${r.grantee}`);
    expect(grantable).toEqual([]);
    const owned = await db.unsafe<{ object: string }[]>(`
      select format('%s owned by %s', c.oid::regclass, c.relowner::regrole) as object from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where ${nonSystem('n.nspname')} and c.relowner::regrole::text in ('anon', 'authenticated', 'service_role')
      union all
      select format('%s owned by %s', p.oid::regprocedure, p.proowner::regrole) from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where ${nonSystem('n.nspname')} and p.proowner::regrole::text in ('anon', 'authenticated', 'service_role')
      union all
      select format('schema %I owned by %s', n.nspname, n.nspowner::regrole) from pg_namespace n
        where ${nonSystem('n.nspname')} and n.nspowner::regrole::text in ('anon', 'authenticated', 'service_role')`);
    expect(owned.map((o) => o.object)).toEqual([]);
  });

  it('an object created in staffroom later grants nothing to PUBLIC or an API role until a migration says so', async () => {
    class Rollback {
      constructor(readonly held: string[]) {}
    }
    // Made the way a migration would make them, then rolled back.
    const held = await db
      .begin(async (tx) => {
        await tx`create table staffroom.privileges_probe (id int)`;
        await tx`create sequence staffroom.privileges_probe_seq`;
        await tx`create function staffroom.privileges_probe() returns int language sql as 'select 1'`;
        const rows = await tx<{ held: string }[]>`
          select format('%s %s to %s', o.name, a.privilege_type, case a.grantee when 0 then 'PUBLIC' else a.grantee::regrole::text end) as held
          from (values
            ('table staffroom.privileges_probe', (select coalesce(relacl, acldefault('r', relowner)) from pg_class where oid = 'staffroom.privileges_probe'::regclass)),
            ('sequence staffroom.privileges_probe_seq', (select coalesce(relacl, acldefault('s', relowner)) from pg_class where oid = 'staffroom.privileges_probe_seq'::regclass)),
            ('function staffroom.privileges_probe()', (select coalesce(proacl, acldefault('f', proowner)) from pg_proc where oid = 'staffroom.privileges_probe()'::regprocedure))
          ) o(name, acl)
          cross join lateral aclexplode(o.acl) a
          where a.grantee = 0 or a.grantee::regrole::text in ('anon', 'authenticated', 'service_role')`;
        throw new Rollback(rows.map((r) => r.held));
      })
      .catch((error: unknown) => {
        if (error instanceof Rollback) return error.held;
        throw error;
      });
    expect(
      held,
      'Postgres grants EXECUTE on new functions to PUBLIC unless a default privilege without `in schema` revokes it; ' +
        'a per-schema `alter default privileges in schema ... revoke` cannot take a global default away.',
    ).toEqual([]);
  });
});
