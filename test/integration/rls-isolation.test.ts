// Database-level isolation: as `authenticated` with user A's claims, direct SQL cannot read, change or
// add user B's organization rows in any table; `anon` reads nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withUser, type Claims, type Db } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let db: Db;
const alice = { id: randomUUID(), email: 'alice@example.com' };
const bob = { id: randomUUID(), email: 'bob@example.com' };
let aliceOrg: string;
let bobOrg: string;

const claimsOf = (user: { id: string; email: string }): Claims => ({ sub: user.id, role: 'authenticated', email: user.email });

async function signUp(user: { id: string; email: string }): Promise<void> {
  await db`insert into auth.users (id, email) values (${user.id}, ${user.email})`;
  await withUser(db, claimsOf(user), (tx) => tx`insert into public.profiles (id, email) values (${user.id}, ${user.email})`);
}

async function found(user: { id: string; email: string }, name: string): Promise<string> {
  const id = randomUUID();
  await withUser(db, claimsOf(user), async (tx) => {
    await tx`insert into public.organizations (id, name, slug, default_model, created_by)
             values (${id}, ${name}, ${name.toLowerCase()}, 'offline-small', ${user.id})`;
    await tx`insert into public.memberships (organization_id, user_id, role) values (${id}, ${user.id}, 'owner')`;
    await tx`insert into public.invitations (organization_id, email, role, token_hash, invited_by, expires_at)
             values (${id}, ${'guest-' + name.toLowerCase() + '@example.com'}, 'member', ${randomUUID()}, ${user.id}, now() + interval '7 days')`;
    await tx`insert into public.api_keys (organization_id, name, prefix, secret_hash, created_by)
             values (${id}, 'ci', 'sk_live_x', ${randomUUID()}, ${user.id})`;
    await tx`insert into public.employees (organization_id, name, slug, instructions) values (${id}, 'Helper', 'helper', 'Help.')`;
    await tx`insert into public.audit_events (organization_id, actor_type, actor_id, action, target_type, target_id)
             values (${id}, 'user', ${user.id}, 'organization.created', 'organization', ${id})`;
  });
  return id;
}

const tenantTables = ['organizations', 'memberships', 'invitations', 'api_keys', 'audit_events', 'employees'] as const;
const orgColumn = (table: string) => (table === 'organizations' ? 'id' : 'organization_id');

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  await signUp(alice);
  await signUp(bob);
  aliceOrg = await found(alice, 'Alpha');
  bobOrg = await found(bob, 'Bravo');
});
afterAll(() => database.drop());

describe('Row Level Security as authenticated', () => {
  it.each(tenantTables)('%s: A sees only her own organization rows', async (table) => {
    const rows = await withUser(db, claimsOf(alice), (tx) => tx.unsafe(`select ${orgColumn(table)} as org from public.${table}`));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.org === aliceOrg)).toBe(true);
  });

  it.each(tenantTables)("%s: A cannot update or delete B's rows", async (table) => {
    const column = { organizations: 'name', memberships: 'role', invitations: 'role', api_keys: 'name', audit_events: 'action', employees: 'name' }[table];
    const value = column === 'role' ? 'member' : 'hijacked';
    const updated = await withUser(db, claimsOf(alice), (tx) =>
      tx.unsafe(`update public.${table} set ${column} = $1 where ${orgColumn(table)} = $2 returning 1`, [value, bobOrg]),
    ).catch((error: { code?: string }) => error.code);
    // Either RLS hides the rows (nothing updated) or the table grants no such privilege at all.
    expect([0, '42501']).toContain(Array.isArray(updated) ? updated.length : updated);
    const deleted = await withUser(db, claimsOf(alice), (tx) =>
      tx.unsafe(`delete from public.${table} where ${orgColumn(table)} = $1 returning 1`, [bobOrg]),
    ).catch((error: { code?: string }) => error.code);
    expect([0, '42501']).toContain(Array.isArray(deleted) ? deleted.length : deleted);
    const rows = await db.unsafe(`select count(*)::int as count from public.${table} where ${orgColumn(table)} = $1`, [bobOrg]);
    expect(rows[0]?.count).toBeGreaterThan(0);
  });

  it("A cannot add herself to B's organization, nor invite, nor create keys or audit events there", async () => {
    const attempts = [
      `insert into public.memberships (organization_id, user_id, role) values ('${bobOrg}', '${alice.id}', 'owner')`,
      `insert into public.invitations (organization_id, email, role, token_hash, invited_by, expires_at) values ('${bobOrg}', 'x@example.com', 'admin', 'h', '${alice.id}', now())`,
      `insert into public.api_keys (organization_id, name, prefix, secret_hash, created_by) values ('${bobOrg}', 'k', 'p', 'h2', '${alice.id}')`,
      `insert into public.audit_events (organization_id, actor_type, action, target_type) values ('${bobOrg}', 'user', 'x', 'organization')`,
      `insert into public.organizations (name, slug, default_model, created_by) values ('Fake', 'fake', 'm', '${bob.id}')`,
      `insert into public.employees (organization_id, name, slug, instructions) values ('${bobOrg}', 'Spy', 'spy', 'Spy.')`,
    ];
    for (const statement of attempts) {
      const error = await withUser(db, claimsOf(alice), (tx) => tx.unsafe(statement)).then(
        () => null,
        (e: { code?: string }) => e.code,
      );
      expect(error, statement).toBe('42501');
    }
  });

  it("A sees B's profile only once they share an organization", async () => {
    const before = await withUser(db, claimsOf(alice), (tx) => tx`select id from public.profiles where id = ${bob.id}`);
    expect(before).toHaveLength(0);
  });

  it('audit events cannot be changed, even by the organization owner', async () => {
    const updated = await withUser(db, claimsOf(alice), (tx) =>
      tx`update public.audit_events set action = 'forged' where organization_id = ${aliceOrg} returning 1`,
    ).catch((e: { code?: string }) => e.code);
    expect(updated).toBe('42501');
  });

  it('the last owner cannot be demoted or removed', async () => {
    const demote = await withUser(db, claimsOf(alice), (tx) =>
      tx`update public.memberships set role = 'admin' where organization_id = ${aliceOrg} and user_id = ${alice.id}`,
    ).catch((e: { hint?: string }) => e.hint);
    expect(demote).toBe('last_owner');
    const remove = await withUser(db, claimsOf(alice), (tx) =>
      tx`delete from public.memberships where organization_id = ${aliceOrg} and user_id = ${alice.id}`,
    ).catch((e: { hint?: string }) => e.hint);
    expect(remove).toBe('last_owner');
  });
});

describe('anon', () => {
  it.each(['profiles', ...tenantTables])('reads nothing from %s', async (table) => {
    const result = await db
      .begin(async (tx) => {
        await tx`select set_config('role', 'anon', true)`;
        return tx.unsafe(`select * from public.${table}`);
      })
      .catch((e: { code?: string }) => e.code);
    expect(result).toBe('42501');
  });
});
