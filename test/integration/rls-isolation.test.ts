// Database-level isolation: as `authenticated` with user A's claims, direct SQL cannot read, change or
// add user B's organization rows in any table; `anon` reads nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withUser, type Db } from '../../src/db/client.js';
import type { Claims } from '../../src/kernel/caller.js';
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
  await withUser(db, claimsOf(user), (tx) => tx`select staffroom.sync_profile(null)`);
}

// Through the functions the API calls: as `authenticated`, nothing else can write.
async function found(user: { id: string; email: string }, name: string): Promise<string> {
  return withUser(db, claimsOf(user), async (tx) => {
    const [{ id } = { id: '' }] = await tx<{ id: string }[]>`
      select staffroom.create_organization(${name}, ${name.toLowerCase()}, 'offline-small', 'req_setup') as id`;
    await tx`select staffroom.create_invitation(${id}, ${'guest-' + name.toLowerCase() + '@example.com'}, 'member',
                                                ${randomBytes(32).toString('hex')}, 'req_setup')`;
    await tx`select staffroom.create_api_key(${id}, 'ci', 'sk_live_abcde', ${randomBytes(32).toString('hex')}, null, 'req_setup')`;
    await tx`select staffroom.create_employee(${id}, 'Helper', 'helper', '', 'Help.', null, '{}', 100, null, 'req_setup')`;
    return id;
  });
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
    const rows = await withUser(db, claimsOf(alice), (tx) => tx.unsafe(`select ${orgColumn(table)} as org from staffroom.${table}`));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.org === aliceOrg)).toBe(true);
  });

  it.each(tenantTables)("%s: A cannot update or delete B's rows", async (table) => {
    const column = {
      organizations: 'name',
      memberships: 'role',
      invitations: 'role',
      api_keys: 'name',
      audit_events: 'action',
      employees: 'name',
    }[table];
    const value = column === 'role' ? 'member' : 'hijacked';
    const updated = await withUser(db, claimsOf(alice), (tx) =>
      tx.unsafe(`update staffroom.${table} set ${column} = $1 where ${orgColumn(table)} = $2 returning 1`, [value, bobOrg]),
    ).catch((error: { code?: string }) => error.code);
    // Either RLS hides the rows (nothing updated) or the table grants no such privilege at all.
    expect([0, '42501']).toContain(Array.isArray(updated) ? updated.length : updated);
    const deleted = await withUser(db, claimsOf(alice), (tx) =>
      tx.unsafe(`delete from staffroom.${table} where ${orgColumn(table)} = $1 returning 1`, [bobOrg]),
    ).catch((error: { code?: string }) => error.code);
    expect([0, '42501']).toContain(Array.isArray(deleted) ? deleted.length : deleted);
    const rows = await db.unsafe(`select count(*)::int as count from staffroom.${table} where ${orgColumn(table)} = $1`, [bobOrg]);
    expect(rows[0]?.count).toBeGreaterThan(0);
  });

  it("A cannot add herself to B's organization, nor invite, nor create keys or audit events there", async () => {
    const attempts = [
      `insert into staffroom.memberships (organization_id, user_id, role) values ('${bobOrg}', '${alice.id}', 'owner')`,
      `insert into staffroom.invitations (organization_id, email, role, token_hash, invited_by, expires_at) values ('${bobOrg}', 'x@example.com', 'admin', 'h', '${alice.id}', now())`,
      `insert into staffroom.api_keys (organization_id, name, prefix, secret_hash, created_by) values ('${bobOrg}', 'k', 'p', 'h2', '${alice.id}')`,
      `insert into staffroom.audit_events (organization_id, actor_type, action, target_type) values ('${bobOrg}', 'user', 'x', 'organization')`,
      `insert into staffroom.organizations (name, slug, default_model, created_by) values ('Fake', 'fake', 'm', '${bob.id}')`,
      `insert into staffroom.employees (organization_id, name, slug, instructions) values ('${bobOrg}', 'Spy', 'spy', 'Spy.')`,
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
    const before = await withUser(db, claimsOf(alice), (tx) => tx`select id from staffroom.profiles where id = ${bob.id}`);
    expect(before).toHaveLength(0);
  });

  it('audit events cannot be changed, even by the organization owner', async () => {
    const updated = await withUser(
      db,
      claimsOf(alice),
      (tx) => tx`update staffroom.audit_events set action = 'forged' where organization_id = ${aliceOrg} returning 1`,
    ).catch((e: { code?: string }) => e.code);
    expect(updated).toBe('42501');
  });

  it('the last owner cannot be demoted or removed', async () => {
    const demote = await withUser(
      db,
      claimsOf(alice),
      (tx) => tx`select staffroom.set_member_role(${aliceOrg}, ${alice.id}, 'admin', 'req')`,
    ).catch((e: { hint?: string; message?: string }) => [e.hint, e.message]);
    expect(demote).toEqual(['staffroom:LAST_OWNER', expect.stringContaining('at least one owner')]);
    const remove = await withUser(db, claimsOf(alice), (tx) => tx`select staffroom.remove_member(${aliceOrg}, ${alice.id}, 'req')`).catch(
      (e: { hint?: string; message?: string }) => [e.hint, e.message],
    );
    expect(remove).toEqual(['staffroom:LAST_OWNER', expect.stringContaining('at least one owner')]);
  });
});

describe('anon', () => {
  it.each(['profiles', ...tenantTables])('reads nothing from %s', async (table) => {
    const result = await db
      .begin(async (tx) => {
        await tx`select set_config('role', 'anon', true)`;
        return tx.unsafe(`select * from staffroom.${table}`);
      })
      .catch((e: { code?: string }) => e.code);
    expect(result).toBe('42501');
  });
});
