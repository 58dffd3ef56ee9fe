// Attacks at SQL level: on Supabase any signed-in user can send SQL as `authenticated` with their own real
// token claims, so each attack here runs exactly so (or as `anon`) and must be refused with an exact code
// while nothing observable changes. Setup goes through the definer functions the API calls; the superuser
// connection only creates auth users, fills a few setup gaps and observes the state.
import { randomBytes, randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withService, withUser, type Db, type Tx } from '../../src/db/client.js';
import type { Claims } from '../../src/kernel/caller.js';
import { findModel } from '../../src/services/catalog.js';
import { maximumCostInCredits } from '../../src/services/cost.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

interface Person {
  id: string;
  email: string;
}
type Role = 'owner' | 'admin' | 'member' | 'outsider' | 'key';
/** Who runs a statement: real claims as `authenticated`, or no token at all. */
type Caller = Claims | 'anon';
interface Outcome {
  code: string;
  hint?: string;
  message?: string;
}

const denied: Outcome = { code: '42501' };
const refused = (error: string): Outcome => ({ code: 'P0001', hint: `staffroom:${error}` });
const hex64 = () => randomBytes(32).toString('hex');
const hex32 = () => randomBytes(16).toString('hex');
const person = (name: string): Person => ({ id: randomUUID(), email: `${name}@example.com` });

let database: TestDatabase;
let db: Db;
const owner = person('owner');
const admin = person('admin');
const member = person('member');
const outsider = person('outsider');

const ids = {
  org: '',
  otherOrg: '',
  key: '',
  revokedKey: '',
  expiredKey: '',
  helper: '', // offline-small by the organization's default, output limit above the model's
  analyst: '', // gpt-4o, 100 output tokens
  otherEmployee: '',
  task: '',
  pendingInvitation: '',
  acceptedInvitation: '',
  revokedInvitation: '',
};
let tables: { name: string; firstColumn: string; readable: boolean; orgColumn: string | null }[] = [];
let functions: { name: string; call: string; granted: boolean }[] = [];
let snapshotSql = '';

const userClaims = (p: Person): Claims => ({ sub: p.id, email: p.email, role: 'authenticated' });
const keyClaims = (key: string, organization = ids.org): Claims => ({
  role: 'authenticated',
  api_key_id: key,
  organization_id: organization,
});

function caller(role: Role): Claims {
  switch (role) {
    case 'owner':
      return userClaims(owner);
    case 'admin':
      return userClaims(admin);
    case 'member':
      return userClaims(member);
    case 'outsider':
      return userClaims(outsider);
    case 'key':
      return keyClaims(ids.key);
  }
}

function run<T>(who: Caller, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (who !== 'anon') return withUser(db, who, work);
  return db.begin(async (tx) => {
    await tx`select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role":"anon"}', true)`;
    return work(tx);
  }) as Promise<T>;
}

function outcomeOf(error: unknown): Outcome {
  const { code, hint, message } = error as { code?: string; hint?: string; message?: string };
  if (code === '42501') return { code };
  if (code === 'P0001') return { code, hint: hint ?? '' };
  // Anything else is unexpected: keep the message so that a failing assertion says what happened.
  return { code: code ?? 'none', message: message ?? String(error) };
}

async function outcome(work: () => Promise<unknown>): Promise<Outcome> {
  try {
    await work();
    return { code: 'succeeded' };
  } catch (error) {
    return outcomeOf(error);
  }
}

const attempt = (who: Caller, statement: string) => outcome(() => run(who, (tx) => tx.unsafe(statement)));

const rowsAs = (who: Caller, statement: string) => run(who, (tx) => tx.unsafe(statement));

async function valueAs<T>(who: Caller, statement: string): Promise<T> {
  const [row] = await rowsAs(who, statement);
  return Object.values(row ?? {})[0] as T;
}

/** Every row of every table of ours, plus each organization's balance next to its ledger's sum. */
async function snapshot(): Promise<unknown> {
  const [row] = await db.unsafe<{ state: unknown }[]>(snapshotSql);
  return row?.state;
}

async function expectRefused(who: Caller, statement: string, expected: Outcome): Promise<void> {
  const before = await snapshot();
  expect(await attempt(who, statement), statement).toEqual(expected);
  expect(await snapshot(), `state after: ${statement}`).toEqual(before);
}

async function signUp(p: Person): Promise<void> {
  await db`insert into auth.users (id, email) values (${p.id}, ${p.email})`;
  await withUser(db, userClaims(p), (tx) => tx`select staffroom.sync_profile(null)`);
}

// Setup's invitations go past the free plan's member limit: the plan is raised around them and set back.
async function invite(email: string, role: 'admin' | 'member', tokenHash = hex64()): Promise<string> {
  const [{ plan_id: plan } = { plan_id: 'free' }] = await db`select plan_id from staffroom.organizations where id = ${ids.org}`;
  await db`update staffroom.organizations set plan_id = 'pro' where id = ${ids.org}`;
  try {
    return await valueAs<string>(
      userClaims(owner),
      `select staffroom.create_invitation('${ids.org}', '${email}', '${role}', '${tokenHash}', 'req_setup')`,
    );
  } finally {
    await db`update staffroom.organizations set plan_id = ${plan as string} where id = ${ids.org}`;
  }
}

async function join(p: Person, role: 'admin' | 'member'): Promise<string> {
  const tokenHash = hex64();
  const invitation = await invite(p.email, 'member', tokenHash);
  await withUser(db, userClaims(p), (tx) => tx`select staffroom.accept_invitation(${tokenHash}, 'req_setup')`);
  if (role !== 'member') {
    await withUser(db, userClaims(owner), (tx) => tx`select staffroom.set_member_role(${ids.org}, ${p.id}, ${role}, 'req_setup')`);
  }
  return invitation;
}

const createKey = (org = ids.org, expiresAt = 'null') =>
  valueAs<string>(
    userClaims(owner),
    `select staffroom.create_api_key('${org}', 'ci', 'sk_live_abcde', '${hex64()}', ${expiresAt}, 'req_setup')`,
  );

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  for (const p of [owner, admin, member, outsider]) await signUp(p);

  ids.org = await valueAs(userClaims(owner), `select staffroom.create_organization('Target', 'target', 'offline-small', 'req_setup')`);
  ids.otherOrg = await valueAs(
    userClaims(outsider),
    `select staffroom.create_organization('Elsewhere', 'elsewhere', 'offline-small', 'req_setup')`,
  );
  ids.acceptedInvitation = await join(admin, 'admin');
  await join(member, 'member');
  ids.pendingInvitation = await invite('pending@example.com', 'member');
  ids.revokedInvitation = await invite('gone@example.com', 'admin');
  await rowsAs(userClaims(owner), `select staffroom.revoke_invitation('${ids.org}', '${ids.revokedInvitation}', 'req_setup')`);

  ids.key = await createKey();
  ids.revokedKey = await createKey();
  await rowsAs(userClaims(owner), `select staffroom.revoke_api_key('${ids.org}', '${ids.revokedKey}', 'req_setup')`);
  ids.expiredKey = await createKey(ids.org, `now() + interval '1 day'`);
  // The attacks on tasks queue more tasks than the free plan runs at once (its limit is tested in tasks.test.ts),
  // and the member-limit attack needs the free plan's members: raise only this database's task limit.
  await db`update staffroom.plans set max_concurrent_tasks = 100 where id = 'free'`;
  // Time passing is the one thing setup cannot do through the functions.
  await db`update staffroom.api_keys set expires_at = now() - interval '1 minute' where id = ${ids.expiredKey}`;

  ids.helper = await valueAs(
    userClaims(owner),
    `select staffroom.create_employee('${ids.org}', 'Helper', 'helper', '', 'Help with anything — précisément.', null, '{}', 32000, null, 'req_setup')`,
  );
  ids.analyst = await valueAs(
    userClaims(owner),
    `select staffroom.create_employee('${ids.org}', 'Analyst', 'analyst', '', 'Analyse the numbers.', 'gpt-4o', '{}', 100, null, 'req_setup')`,
  );
  ids.otherEmployee = await valueAs(
    userClaims(outsider),
    `select staffroom.create_employee('${ids.otherOrg}', 'Spy', 'spy', '', 'Watch.', null, '{}', 100, null, 'req_setup')`,
  );
  ids.task = await valueAs(
    userClaims(member),
    `select staffroom.create_task('${ids.org}', '${ids.helper}', 'Summarise the week.', null, null, null, null)`,
  );

  tables = await db<typeof tables>`
    select t.tablename as name,
           (select c.column_name from information_schema.columns c
             where c.table_schema = 'staffroom' and c.table_name = t.tablename order by c.ordinal_position limit 1) as "firstColumn",
           has_any_column_privilege('authenticated', format('staffroom.%I', t.tablename), 'select') as readable,
           case when t.tablename = 'organizations' then 'id'
                when exists (select 1 from information_schema.columns c where c.table_schema = 'staffroom'
                               and c.table_name = t.tablename and c.column_name = 'organization_id') then 'organization_id' end as "orgColumn"
    from pg_tables t where t.schemaname = 'staffroom' order by t.tablename`;
  const procs = await db<{ name: string; args: string[]; granted: boolean }[]>`
    select p.proname as name, array(select format_type(a, null) from unnest(p.proargtypes::oid[]) a) as args,
           has_function_privilege('authenticated', p.oid, 'execute') as granted
    from pg_proc p where p.pronamespace = 'staffroom'::regnamespace and p.prorettype <> 'trigger'::regtype order by p.proname`;
  functions = procs.map((p) => ({
    name: p.name,
    granted: p.granted,
    call: `select staffroom.${p.name}(${p.args.map((a) => `null::${a}`).join(', ')})`,
  }));

  snapshotSql = `select jsonb_build_object(${tables
    .map((t) => `'${t.name}', (select coalesce(jsonb_agg(to_jsonb(r) order by to_jsonb(r)::text), '[]') from staffroom.${t.name} r)`)
    .join(', ')}, 'credits', (
      select jsonb_agg(jsonb_build_object('org', o.id, 'available', a.available,
               'ledger', (select coalesce(sum(l.amount), 0) from staffroom.credit_ledger l where l.organization_id = o.id)) order by o.id)
      from staffroom.organizations o left join staffroom.credit_accounts a on a.organization_id = o.id)) as state`;
});
afterAll(() => database.drop());

describe('setup', () => {
  it('has the roles, keys and invitations the attacks start from', async () => {
    const roles = await db`select user_id, role from staffroom.memberships where organization_id = ${ids.org} order by role`;
    expect(roles.map((r) => [r.user_id, r.role])).toEqual([
      [admin.id, 'admin'],
      [member.id, 'member'],
      [owner.id, 'owner'],
    ]);
    expect(await valueAs(caller('key'), 'select count(*)::int from staffroom.employees')).toBe(2);
    expect(tables.map((t) => t.name)).toContain('credit_ledger');
    const credits = (await snapshot()) as { credits: { available: number; ledger: number }[] };
    for (const c of credits.credits) expect(c.available).toBe(c.ledger);
  });
});

describe('a member minting credits', () => {
  const forgedTask = randomUUID();
  const direct: [string, () => string, Outcome][] = [
    [
      'inserting a task that holds a million credits',
      () => `
      insert into staffroom.tasks (id, organization_id, employee_id, created_by, input, instructions, model, max_output_tokens, reserved_credits)
      values ('${forgedTask}', '${ids.org}', '${ids.helper}', '${member.id}', 'x', 'x', 'offline-small', 4096, 1000000)`,
      denied,
    ],
    [
      'then cancelling that task to release the million',
      () => `select staffroom.cancel_task('${ids.org}', '${forgedTask}')`,
      refused('NOT_FOUND'),
    ],
    [
      'raising the balance',
      () => `update staffroom.credit_accounts set available = available + 1000000 where organization_id = '${ids.org}'`,
      denied,
    ],
    [
      'writing a ledger entry',
      () => `insert into staffroom.credit_ledger (organization_id, kind, amount, balance_after, reference)
      values ('${ids.org}', 'grant', 1000000, 1010000, 'grant:forged')`,
      denied,
    ],
    [
      'calling move_credits',
      () => `select staffroom.move_credits('${ids.org}', 'grant', 1000000, 'grant:forged', null, 'free money')`,
      denied,
    ],
    ['settling a task at a negative cost', () => `select staffroom.settle_task('${ids.task}', -1000000, 'refund')`, denied],
    ['releasing a reservation directly', () => `select staffroom.release_reservation('${ids.task}', 'again')`, denied],
    ['holding less for a step than it needs', () => `select staffroom.hold_task_step('${ids.task}', 'worker-forged', 0)`, denied],
    [
      'settling a step at a negative cost',
      () => `select staffroom.settle_task_step('${ids.task}', 'worker-forged', -1000000, 'refund')`,
      denied,
    ],
    [
      'settling a step at a negative exact cost',
      () => `select staffroom.settle_task_step_exact('${ids.task}', 'worker-forged', -100000000000000, 'refund')`,
      denied,
    ],
    ["resetting a task's exact cost so far", () => `update staffroom.tasks set cost_picodollars = 0 where id = '${ids.task}'`, denied],
    [
      'writing a step of the transcript with its own cost',
      () => `insert into staffroom.task_messages (task_id, organization_id, index, role, content, step, cost_credits)
      values ('${ids.task}', '${ids.org}', 99, 'assistant', 'free', 1, 0)`,
      denied,
    ],
    ['moving a task to requires_action', () => `update staffroom.tasks set status = 'requires_action' where id = '${ids.task}'`, denied],
    ['moving a task to waiting_for_team', () => `update staffroom.tasks set status = 'waiting_for_team' where id = '${ids.task}'`, denied],
    [
      "making a task another's team member, to be paid from its reservation",
      () => `update staffroom.tasks set parent_task_id = id, root_task_id = id, depth = 1 where id = '${ids.task}'`,
      denied,
    ],
    [
      'starting a team member without the lease (free work for another organization)',
      () => `select staffroom.start_team_member('${ids.task}', 'worker-forged', 'call_1', '{"subagent_type": "x", "prompt": "y"}')`,
      denied,
    ],
    [
      "writing another team's board or messages through the worker's function",
      () =>
        `select staffroom.run_team_tool('${ids.task}', 'worker-forged', 'call_1', 'TaskCreate', '{"subject": "x", "description": "y"}')`,
      denied,
    ],
    ['parking a task as if waiting for its team', () => `select staffroom.await_team('${ids.task}', 'worker-forged')`, denied],
    ['reading messages into a transcript', () => `select staffroom.deliver_team_messages('${ids.task}', 'worker-forged')`, denied],
    ['locking tasks for the worker', () => `select staffroom.lock_task_rows('${ids.task}')`, denied],
    ["locking a task's parent", () => `select staffroom.lock_task_parent('${ids.task}')`, denied],
    ["holding a team's lock", () => `select staffroom.lock_team('${ids.task}')`, denied],
    [
      'writing a board item directly',
      () => `insert into staffroom.team_board_items (organization_id, root_task_id, number, subject, description)
      values ('${ids.org}', '${ids.task}', 1, 'x', 'y')`,
      denied,
    ],
    [
      'forging an event (a task.succeeded a webhook would carry)',
      () => `select staffroom.emit_event('${ids.org}', '${ids.task}', 'task.succeeded', '{}')`,
      denied,
    ],
    [
      'writing an event directly',
      () => `insert into staffroom.events (organization_id, seq, type) values ('${ids.org}', 999999, 'billing.updated')`,
      denied,
    ],
    ['cancelling a queued task behind the checks', () => `select staffroom.cancel_queued_task('${ids.task}', 'again')`, denied],
    ['granting the free credits again', () => `select staffroom.grant_free_credits_for_this_month('${ids.org}')`, denied],
    [
      'writing an audit event through record_audit',
      () => `select staffroom.record_audit('${ids.org}', 'credits.granted', 'organization', null, null, null, 'r')`,
      denied,
    ],
  ];
  it.each(direct)('%s is refused', async (_name, statement, expected) => {
    await expectRefused(caller('member'), statement(), expected);
  });

  it.each(direct.filter(([, , expected]) => expected === denied))(
    '%s is refused for the owner, the admin, the API key and an outsider too',
    async (_name, statement) => {
      for (const role of ['owner', 'admin', 'key', 'outsider'] as const) await expectRefused(caller(role), statement(), denied);
    },
  );

  it('cancelling a task twice releases its reservation once', async () => {
    const available = () =>
      db`select available::int as n from staffroom.credit_accounts where organization_id = ${ids.org}`.then((r) => r[0]?.n as number);
    const start = await available();
    const task = await valueAs<string>(
      caller('member'),
      `select staffroom.create_task('${ids.org}', '${ids.helper}', 'Once only.', null, null, null, null)`,
    );
    expect(await available()).toBeLessThan(start);
    expect(await valueAs(caller('member'), `select staffroom.cancel_task('${ids.org}', '${task}')`)).toBe('canceled');
    expect(await valueAs(caller('member'), `select staffroom.cancel_task('${ids.org}', '${task}')`)).toBe('unchanged');
    expect(await available()).toBe(start);
    const releases = await db`select amount::int from staffroom.credit_ledger where task_id = ${task} and kind = 'release'`;
    expect(releases).toHaveLength(1);
  });
});

describe('a member running models for free', () => {
  it('a task inserted directly with nothing reserved is refused', async () => {
    await expectRefused(
      caller('member'),
      `
      insert into staffroom.tasks (organization_id, employee_id, created_by, input, instructions, model, max_output_tokens, reserved_credits)
      values ('${ids.org}', '${ids.analyst}', '${member.id}', 'x', 'x', 'gpt-4o', 16384, 0)`,
      denied,
    );
  });

  it("a task for another organization's employee is refused", async () => {
    await expectRefused(
      caller('member'),
      `select staffroom.create_task('${ids.org}', '${ids.otherEmployee}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
    await expectRefused(
      caller('member'),
      `select staffroom.create_task('${ids.otherOrg}', '${ids.otherEmployee}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
  });

  it.each([
    ['helper', 'Bonjour — résumé, s’il vous plaît ✓'],
    ['analyst', 'Quarterly figures: 12 345 € ✓'],
  ] as const)('a task for the %s reserves exactly its maximum cost', async (employee, input) => {
    const employeeId = ids[employee];
    const before = await db`select available::int as n from staffroom.credit_accounts where organization_id = ${ids.org}`;
    const task = await valueAs<string>(
      caller('member'),
      `select staffroom.create_task('${ids.org}', '${employeeId}', '${input}', null, null, null, null)`,
    );
    const [row] = await db`
      select t.reserved_credits::int as reserved, t.model, t.max_output_tokens, t.created_by, t.created_by_key,
             e.instructions, e.max_output_tokens as employee_max, m.max_output_tokens as model_max,
             m.input_per_million::int as input_price, m.output_per_million::int as output_price,
             m.cached_input_per_million::int as cached_price,
             ceil(((octet_length(e.instructions) + octet_length(t.input) + 64)::numeric * m.input_per_million
                   + least(e.max_output_tokens, m.max_output_tokens)::numeric * m.output_per_million) / 100000000)::int as computed,
             (select -amount::int from staffroom.credit_ledger l where l.task_id = t.id and l.kind = 'reservation') as held
      from staffroom.tasks t join staffroom.employees e on e.id = t.employee_id join staffroom.models m on m.id = t.model
      where t.id = ${task}`;
    const model = findModel(row!.model as string)!;
    expect(model.pricing).toEqual({
      inputPerMillion: row!.input_price,
      outputPerMillion: row!.output_price,
      cachedInputPerMillion: row!.cached_price,
    });
    expect(model.maxOutputTokens).toBe(row!.model_max);
    const bytes = Buffer.byteLength(row!.instructions as string, 'utf8') + Buffer.byteLength(input, 'utf8') + 64;
    const maxOutput = Math.min(row!.employee_max as number, model.maxOutputTokens);
    const expected = maximumCostInCredits(model.pricing, bytes, maxOutput);
    expect(row).toMatchObject({
      reserved: expected,
      computed: expected,
      held: expected,
      max_output_tokens: maxOutput,
      created_by: member.id,
      created_by_key: null,
    });
    expect(row!.model).toBe(employee === 'analyst' ? 'gpt-4o' : 'offline-small');
    const after = await db`select available::int as n from staffroom.credit_accounts where organization_id = ${ids.org}`;
    expect(after[0]!.n).toBe(before[0]!.n - expected);
  });
});

describe('an admin taking over', () => {
  it.each([
    [
      'making themselves owner in the table',
      () => `update staffroom.memberships set role = 'owner' where organization_id = '${ids.org}' and user_id = '${admin.id}'`,
      denied,
    ],
    [
      'making themselves owner through set_member_role',
      () => `select staffroom.set_member_role('${ids.org}', '${admin.id}', 'owner', 'r')`,
      refused('FORBIDDEN'),
    ],
    ['demoting the owner', () => `select staffroom.set_member_role('${ids.org}', '${owner.id}', 'member', 'r')`, refused('FORBIDDEN')],
    ['removing the owner', () => `select staffroom.remove_member('${ids.org}', '${owner.id}', 'r')`, refused('FORBIDDEN')],
    [
      "deleting the owner's membership row",
      () => `delete from staffroom.memberships where organization_id = '${ids.org}' and user_id = '${owner.id}'`,
      denied,
    ],
    [
      'inviting someone as owner',
      () => `select staffroom.create_invitation('${ids.org}', 'boss@example.com', 'owner', '${hex64()}', 'r')`,
      refused('VALIDATION_ERROR'),
    ],
    [
      're-inviting themselves',
      () => `select staffroom.create_invitation('${ids.org}', '${admin.email}', 'admin', '${hex64()}', 'r')`,
      refused('ALREADY_MEMBER'),
    ],
    ['upgrading the plan', () => `update staffroom.organizations set plan_id = 'pro' where id = '${ids.org}'`, denied],
    ['deleting the organization', () => `select staffroom.delete_organization('${ids.org}', 'r')`, refused('FORBIDDEN')],
    ['restoring the organization', () => `select staffroom.restore_organization('${ids.org}', 'r')`, refused('FORBIDDEN')],
  ] as const)('%s is refused', async (_name, statement, expected) => {
    await expectRefused(caller('admin'), statement(), expected);
  });
});

describe('a member reaching above their role', () => {
  it.each([
    ['making themselves admin', () => `select staffroom.set_member_role('${ids.org}', '${member.id}', 'admin', 'r')`],
    ['removing the admin', () => `select staffroom.remove_member('${ids.org}', '${admin.id}', 'r')`],
    ['inviting', () => `select staffroom.create_invitation('${ids.org}', 'friend@example.com', 'admin', '${hex64()}', 'r')`],
    ['revoking an invitation', () => `select staffroom.revoke_invitation('${ids.org}', '${ids.pendingInvitation}', 'r')`],
    ['creating an API key', () => `select staffroom.create_api_key('${ids.org}', 'mine', 'sk_live_abcde', '${hex64()}', null, 'r')`],
    ['revoking the API key', () => `select staffroom.revoke_api_key('${ids.org}', '${ids.key}', 'r')`],
    ['renaming the organization', () => `select staffroom.update_organization('${ids.org}', 'Mine', null, null, 'r')`],
    ['hiring an employee', () => `select staffroom.create_employee('${ids.org}', 'Mole', 'mole', '', 'Dig.', null, '{}', 100, null, 'r')`],
    [
      'raising an employee to a dearer model',
      () => `select staffroom.update_employee('${ids.org}', '${ids.helper}', '{"model": "claude-sonnet-4-5"}', 'r')`,
    ],
    ['deleting an employee', () => `select staffroom.delete_employee('${ids.org}', '${ids.helper}', 'r')`],
    ['defining a tool', () => `select staffroom.put_tool('${ids.org}', 'mcp__x__y', 'x', '{"type": "object"}', true, 'r')`],
    ['deleting a tool', () => `select staffroom.delete_tool('${ids.org}', 'mcp__x__y', 'r')`],
    [
      'registering a webhook endpoint',
      () =>
        `select staffroom.create_webhook_endpoint('${ids.org}', 'https://evil.example/h', '', '{task.succeeded}', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA', 'r')`,
    ],
    ['changing a webhook endpoint', () => `select staffroom.update_webhook_endpoint('${ids.org}', '${randomUUID()}', '{}', 'r')`],
    [
      'rotating a webhook secret',
      () => `select staffroom.rotate_webhook_secret('${ids.org}', '${randomUUID()}', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA', 'r')`,
    ],
    ['sending a delivery again', () => `select staffroom.redeliver_webhook('${ids.org}', '${randomUUID()}', '${randomUUID()}')`],
  ] as const)('%s is refused', async (_name, statement) => {
    await expectRefused(caller('member'), statement(), refused('FORBIDDEN'));
  });

  it.each(['invitations', 'api_keys', 'audit_events', 'credit_ledger'])('reads no rows of %s', async (table) => {
    expect(await valueAs(caller('member'), `select count(*)::int from staffroom.${table}`)).toBe(0);
  });
});

describe('bypassing the plan', () => {
  it.each(['member', 'admin', 'owner', 'outsider', 'key'] as const)('%s cannot insert an organization on the pro plan', async (role) => {
    await expectRefused(
      caller(role),
      `
      insert into staffroom.organizations (name, slug, plan_id, default_model, created_by)
      values ('Pro', 'free-pro', 'pro', 'offline-small', '${outsider.id}')`,
      denied,
    );
  });

  it('the owner cannot change the plan in the table', async () => {
    await expectRefused(caller('owner'), `update staffroom.organizations set plan_id = 'pro' where id = '${ids.org}'`, denied);
  });

  it("create_organization always starts on the free plan, with the free credits only for the caller's first", async () => {
    const org = await valueAs<string>(caller('outsider'), `select staffroom.create_organization('Upgraded', 'upgraded', 'gpt-4o', 'r')`);
    const [row] = await db`
      select o.plan_id, a.available::int, (select coalesce(sum(amount), 0)::int from staffroom.credit_ledger where organization_id = o.id) as ledger
      from staffroom.organizations o join staffroom.credit_accounts a on a.organization_id = o.id where o.id = ${org}`;
    // The outsider's first organization (Elsewhere) had their free credits.
    expect(row).toEqual({ plan_id: 'free', available: 0, ledger: 0 });
  });

  it("an organization at its plan's member limit cannot take one more member", async () => {
    const members = () =>
      db`select count(*)::int as n from staffroom.memberships where organization_id = ${ids.org}`.then((r) => r[0]!.n as number);
    const [plan] =
      await db`select p.max_members::int as max from staffroom.plans p join staffroom.organizations o on o.plan_id = p.id where o.id = ${ids.org}`;
    expect(await members()).toBe(plan!.max);
    const extra = person('one-too-many');
    await signUp(extra);
    const tokenHash = hex64();
    const invited = await attempt(
      caller('owner'),
      `select staffroom.create_invitation('${ids.org}', '${extra.email}', 'member', '${tokenHash}', 'r')`,
    );
    const joined =
      invited.code === 'succeeded' ? await attempt(userClaims(extra), `select staffroom.accept_invitation('${tokenHash}', 'r')`) : invited;
    expect(joined).toEqual(refused('PLAN_LIMIT_REACHED'));
    expect(await members()).toBe(plan!.max);
  });
});

describe('a user farming the free credits', () => {
  const create = (p: Person, name: string, fromName = false) =>
    valueAs<string>(
      userClaims(p),
      `select staffroom.create_organization('${name}', '${name.toLowerCase().replaceAll(' ', '-')}', 'offline-small', 'r', ${fromName})`,
    );
  const grants = (orgs: string[]) =>
    db<{ org: string; amount: number }[]>`
      select organization_id as org, amount::int from staffroom.credit_ledger where organization_id in ${db(orgs)} and kind = 'grant'`;

  it('create_organization, called again and again, around deletes and restores, grants the free credits once', async () => {
    const farmer = person('farmer');
    await signUp(farmer);
    const orgs = [await create(farmer, 'Farm')];
    for (let i = 0; i < 4; i++) orgs.push(await create(farmer, `Farm ${i}`));
    orgs.push(await create(farmer, 'Farm', true)); // a slug derived from the name: the first free variant
    expect(await grants(orgs)).toEqual([{ org: orgs[0], amount: 10_000 }]);

    await rowsAs(userClaims(farmer), `select staffroom.delete_organization('${orgs[0]}', 'r')`);
    orgs.push(await create(farmer, 'Farm again'));
    await rowsAs(userClaims(farmer), `select staffroom.restore_organization('${orgs[0]}', 'r')`);
    for (const org of orgs.slice(1, 3)) {
      await rowsAs(userClaims(farmer), `select staffroom.delete_organization('${org}', 'r')`);
      await rowsAs(userClaims(farmer), `select staffroom.restore_organization('${org}', 'r')`);
    }
    expect(await grants(orgs)).toEqual([{ org: orgs[0], amount: 10_000 }]);
    const [balances] = await db`
      select count(*)::int as accounts, sum(available)::int as total from staffroom.credit_accounts where organization_id in ${db(orgs)}`;
    expect(balances).toEqual({ accounts: orgs.length, total: 10_000 });
  });

  it.each([
    ['reading who had the free grant', (): string => `select * from staffroom.free_grants`],
    ['forgetting their own free grant', () => `delete from staffroom.free_grants where user_id = '${owner.id}'`],
    [
      'binding their free grant to another organization',
      () => `update staffroom.free_grants set organization_id = '${ids.otherOrg}' where user_id = '${owner.id}'`,
    ],
    ['granting the free credits to an organization directly', () => `select staffroom.grant_free_credits_for_this_month('${ids.org}')`],
    ['releasing the slug of a deleted organization', (): string => `select staffroom.release_expired_slug('target')`],
  ] as const)('%s is refused', async (_name, statement) => {
    for (const role of ['owner', 'admin', 'member', 'key', 'outsider'] as const) await expectRefused(caller(role), statement(), denied);
  });
});

describe('forging the audit trail', () => {
  const forged = () => `
    insert into staffroom.audit_events (organization_id, actor_type, actor_id, actor_email, action, target_type, target_id)
    values ('${ids.org}', 'user', '${owner.id}', '${owner.email}', 'organization.deleted', 'organization', '${ids.org}')`;

  it.each(['member', 'admin', 'owner', 'key'] as const)('%s cannot insert an event in the owner’s name', async (role) => {
    await expectRefused(caller(role), forged(), denied);
  });

  it.each([
    ['rewriting', () => `update staffroom.audit_events set actor_email = 'someone@example.com' where organization_id = '${ids.org}'`],
    ['deleting', () => `delete from staffroom.audit_events where organization_id = '${ids.org}'`],
    ['truncating', (): string => 'truncate staffroom.audit_events'],
  ] as const)('%s events is refused even for the owner', async (_name, statement) => {
    await expectRefused(caller('owner'), statement(), denied);
  });

  it("an event written by a function carries the caller's true identity", async () => {
    const invitation = await invite('later@example.com', 'member');
    await rowsAs(caller('admin'), `select staffroom.revoke_invitation('${ids.org}', '${invitation}', 'req_${hex32()}')`);
    const [event] = await db`
      select actor_type, actor_id, actor_email, action, target_id, request_id from staffroom.audit_events
      where organization_id = ${ids.org} and action = 'invitation.revoked' and target_id = ${invitation}`;
    expect(event).toEqual({
      actor_type: 'user',
      actor_id: admin.id,
      actor_email: admin.email,
      action: 'invitation.revoked',
      target_id: invitation,
      request_id: null, // an argument, even in the server's format, never names the request
    });
  });

  const forgeries = {
    actor: { type: 'user', id: owner.id, email: owner.email },
    note: 'Approved by the owner.',
    padding: 'x'.repeat(200_000),
    requestId: 'req_forged',
  };
  const latest = async (action: string) => {
    const [event] = await db`
      select actor_type, actor_id, actor_email, before, after, request_id from staffroom.audit_events
      where organization_id = ${ids.org} and action = ${action} order by created_at desc, id desc limit 1`;
    return event;
  };
  const countOf = async (action: string) =>
    (await db`select count(*)::int as n from staffroom.audit_events where organization_id = ${ids.org} and action = ${action}`)[0]
      ?.n as number;

  it('update_webhook_endpoint records the columns it changed, bounded, and none of the patch', async () => {
    const secret = `whsec_${'A'.repeat(32)}`;
    const endpoint = await valueAs<string>(
      caller('admin'),
      `select staffroom.create_webhook_endpoint('${ids.org}', 'https://hooks.example.com/a', 'Receiver', '{task.succeeded,task.succeeded}', '${secret}', 'r')`,
    );
    expect(await latest('organization.webhook_endpoint_created')).toEqual({
      actor_type: 'user',
      actor_id: admin.id,
      actor_email: admin.email,
      before: null,
      after: { endpoint, url: 'https://hooks.example.com/a', description: 'Receiver', eventTypes: ['task.succeeded'] },
      request_id: null,
    });
    await run(caller('admin'), (tx) => {
      const patch = { ...forgeries, description: 'd'.repeat(500), enabled: true };
      return tx`select staffroom.update_webhook_endpoint(${ids.org}, ${endpoint}, ${tx.json(patch)}, ${`req_${hex32()}`})`;
    });
    expect(await latest('organization.webhook_endpoint_updated')).toEqual({
      actor_type: 'user',
      actor_id: admin.id,
      actor_email: admin.email,
      before: { endpoint, description: 'Receiver' },
      after: { endpoint, description: `${'d'.repeat(199)}…` },
      request_id: null,
    });
    // A patch of nothing but forgeries changes nothing, so it records nothing.
    const before = await countOf('organization.webhook_endpoint_updated');
    await run(caller('admin'), (tx) => tx`select staffroom.update_webhook_endpoint(${ids.org}, ${endpoint}, ${tx.json(forgeries)}, 'r')`);
    expect(await countOf('organization.webhook_endpoint_updated')).toBe(before);
    await rowsAs(caller('admin'), `select staffroom.delete_webhook_endpoint('${ids.org}', '${endpoint}', 'r')`);
  });

  it('update_employee records only the employee fields it changed, cut to size', async () => {
    await run(caller('admin'), (tx) => {
      const patch = { ...forgeries, description: 'e'.repeat(1000) };
      return tx`select staffroom.update_employee(${ids.org}, ${ids.analyst}, ${tx.json(patch)}, 'req_forged')`;
    });
    expect(await latest('employee.updated')).toEqual({
      actor_type: 'user',
      actor_id: admin.id,
      actor_email: admin.email,
      before: { description: '' },
      after: { description: `${'e'.repeat(199)}…` },
      request_id: null,
    });
    await run(
      caller('admin'),
      (tx) => tx`select staffroom.update_employee(${ids.org}, ${ids.analyst}, ${tx.json({ description: '' })}, 'r')`,
    );
  });

  it('put_tool records an API key as itself and the definition as stored, then only what changed', async () => {
    const put = (schema: object) =>
      run(
        caller('key'),
        (tx) => tx`select staffroom.put_tool(${ids.org}, 'mcp__crm__find', ${'f'.repeat(2000)}, ${tx.json(schema as never)}, false, 'r')`,
      );
    await put({ type: 'object', description: 'p'.repeat(10_000) });
    const defined = await latest('organization.tool_defined');
    expect(defined).toMatchObject({ actor_type: 'api_key', actor_id: ids.key, actor_email: null, before: null, request_id: null });
    expect(defined?.after).toEqual({
      tool: 'mcp__crm__find',
      description: `${'f'.repeat(199)}…`,
      writes: false,
      inputSchema: expect.stringMatching(/^\d+ bytes, sha256 [0-9a-f]{16}$/),
    });
    const updates = await countOf('organization.tool_updated');
    await put({ type: 'object', description: 'p'.repeat(10_000) });
    expect(await countOf('organization.tool_updated')).toBe(updates);
    await put({ type: 'object' });
    const updated = await latest('organization.tool_updated');
    expect(Object.keys(updated?.before as object).sort()).toEqual(['inputSchema', 'tool']);
    expect(Object.keys(updated?.after as object).sort()).toEqual(['inputSchema', 'tool']);
    await rowsAs(caller('key'), `select staffroom.delete_tool('${ids.org}', 'mcp__crm__find', 'r')`);
  });

  it("records the request id the server set beside the claims, only in the server's format", async () => {
    const rename = (name: string, requestId?: string) =>
      withUser(db, caller('owner'), (tx) => tx`select staffroom.update_organization(${ids.org}, ${name}, null, null, 'r')`, { requestId });
    const ours = `req_${hex32()}`;
    await rename('Target (ours)', ours);
    expect((await latest('organization.updated'))?.request_id).toBe(ours);
    await rename('Target (client id)', 'client-chosen.1');
    expect((await latest('organization.updated'))?.request_id).toBeNull();
    await rename('Target', undefined);
    expect((await latest('organization.updated'))?.request_id).toBeNull();
  });

  it('whatever a function hands it, record_audit keeps at most 20 keys, short strings, shallow values and no secrets', async () => {
    const wide = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v'.repeat(1000)]));
    const [row] = await db`
      select staffroom.audit_json(${db.json({ ...wide, secretHash: hex32(), tokenHash: 'x' } as never)}) as kept`;
    const kept = row?.kept as Record<string, string>;
    expect(Object.keys(kept)).toEqual(Object.keys(wide).slice(0, 20));
    expect(Object.values(kept).every((v) => v === `${'v'.repeat(199)}…`)).toBe(true);
    const deep = {
      list: Array.from({ length: 100 }, (_, i) => i),
      nested: { deeper: { deepest: 1 } },
      url: `whsec_${'A'.repeat(32)}`,
      hash: hex64(),
    };
    const [other] = await db`select staffroom.audit_json(${db.json(deep as never)}) as kept`;
    expect(other?.kept).toEqual({ list: Array.from({ length: 20 }, (_, i) => i), nested: { deeper: '…' }, url: '[secret]' });
  });
});

describe('rewriting profiles', () => {
  it.each([
    ["taking the owner's email", () => `update staffroom.profiles set email = '${owner.email}' where id = '${member.id}'`],
    ["changing the owner's email", () => `update staffroom.profiles set email = 'member@example.com' where id = '${owner.id}'`],
    ['inserting a profile', () => `insert into staffroom.profiles (id, email) values ('${randomUUID()}', '${owner.email}')`],
  ] as const)('%s is refused', async (_name, statement) => {
    await expectRefused(caller('member'), statement(), denied);
  });

  it("sync_profile stores the token's email, lower-cased, for the caller only", async () => {
    const me = { id: randomUUID(), email: 'Me@Example.com' };
    await db`insert into auth.users (id, email) values (${me.id}, ${me.email})`;
    const before = (await snapshot()) as { profiles: { id: string }[] };
    await rowsAs(userClaims(me), `select staffroom.sync_profile('x')`);
    const after = (await snapshot()) as { profiles: { id: string; email: string; name: string }[] };
    const mine = after.profiles.find((p) => p.id === me.id);
    expect(mine).toMatchObject({ id: me.id, email: 'me@example.com', name: 'x' });
    expect(after).toEqual({ ...before, profiles: expect.arrayContaining(before.profiles) });
    expect(after.profiles).toHaveLength(before.profiles.length + 1);
  });
});

describe('reviving what is final', () => {
  it('an admin cannot un-revoke an API key', async () => {
    await expectRefused(caller('admin'), `update staffroom.api_keys set revoked_at = null where id = '${ids.revokedKey}'`, denied);
  });

  it('the service role may not write revoked_at at all', async () => {
    const before = await snapshot();
    const result = await outcome(() =>
      withService(db, 'attack', (tx) => tx`update staffroom.api_keys set revoked_at = null where id = ${ids.revokedKey}`),
    );
    expect(result).toEqual(denied);
    expect(await snapshot()).toEqual(before);
  });

  it('the trigger keeps a revoked key revoked even for a role that may write the column', async () => {
    const before = await snapshot();
    const result = await outcome(() => db.begin((tx) => tx`update staffroom.api_keys set revoked_at = null where id = ${ids.revokedKey}`));
    expect(result).toEqual(refused('CONFLICT'));
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    [
      're-opening an accepted invitation',
      () => `update staffroom.invitations set accepted_at = null, accepted_by = null where id = '${ids.acceptedInvitation}'`,
    ],
    ['re-opening a revoked invitation', () => `update staffroom.invitations set revoked_at = null where id = '${ids.revokedInvitation}'`],
  ] as const)('%s is refused for the admin, the service role and, by the trigger, the table owner', async (_name, statement) => {
    await expectRefused(caller('admin'), statement(), denied);
    const before = await snapshot();
    expect(await outcome(() => withService(db, 'attack', (tx) => tx.unsafe(statement())))).toEqual(denied);
    expect(await outcome(() => db.begin((tx) => tx.unsafe(statement())))).toEqual(refused('CONFLICT'));
    expect(await snapshot()).toEqual(before);
  });

  it('an accepted invitation cannot be revoked', async () => {
    await expectRefused(
      caller('admin'),
      `select staffroom.revoke_invitation('${ids.org}', '${ids.acceptedInvitation}', 'r')`,
      refused('INVITATION_NOT_PENDING'),
    );
  });
});

describe('writing any table directly', () => {
  const statements = (table: { name: string; firstColumn: string }) => [
    `insert into staffroom.${table.name} default values`,
    `update staffroom.${table.name} set ${table.firstColumn} = ${table.firstColumn}`,
    `delete from staffroom.${table.name}`,
    `truncate staffroom.${table.name}`,
  ];

  it.each(['member', 'admin', 'owner', 'key', 'outsider'] as const)(
    '%s: insert, update, delete and truncate are denied on every table',
    async (role) => {
      expect(tables.length).toBeGreaterThanOrEqual(16);
      const before = await snapshot();
      for (const table of tables) {
        for (const statement of statements(table)) expect(await attempt(caller(role), statement), statement).toEqual(denied);
      }
      expect(await snapshot()).toEqual(before);
    },
  );

  it('nobody can add a function or a table to the schema', async () => {
    for (const statement of [
      'create function staffroom.mine() returns int language sql as $$ select 1 $$',
      'create table staffroom.mine (id int)',
      'create table public.tasks (id int)',
    ]) {
      expect(await attempt(caller('owner'), statement), statement).toEqual(denied);
    }
  });
});

describe('reading secrets', () => {
  it.each([
    'select secret_hash from staffroom.api_keys',
    'select * from staffroom.api_keys',
    `select id from staffroom.api_keys where secret_hash like 'a%'`,
    'select k from staffroom.api_keys k',
    'select token_hash from staffroom.invitations',
    `select count(*) from staffroom.invitations where token_hash > '8'`,
    'select idempotency_key from staffroom.tasks',
    'select request_hash from staffroom.tasks',
    'select lease_owner from staffroom.tasks',
    'select * from staffroom.tasks',
    'select * from staffroom.credit_purchases',
    'select * from staffroom.stripe_events',
    'select secret from staffroom.webhook_endpoints',
    'select * from staffroom.webhook_endpoints',
    `select id from staffroom.webhook_endpoints where secret like 'whsec_a%'`,
    'select lease_owner from staffroom.webhook_deliveries',
    'select * from staffroom.event_counters',
  ])('%s is denied even for the owner', async (statement) => {
    expect(await attempt(caller('owner'), statement)).toEqual(denied);
    expect(await attempt(caller('key'), statement)).toEqual(denied);
  });
});

describe('an outsider', () => {
  it('sees no row of the organization in any table', async () => {
    for (const table of tables.filter((t) => t.orgColumn)) {
      const statement = `select count(*)::int as n from staffroom.${table.name} where ${table.orgColumn} = '${ids.org}'`;
      const seen = await outcome(async () => {
        const [row] = await rowsAs(caller('outsider'), statement);
        if (row?.n !== 0) throw new Error(`saw ${row?.n} rows`);
      });
      expect(seen, statement).toEqual(table.readable ? { code: 'succeeded' } : denied);
    }
    expect(
      await valueAs(
        caller('outsider'),
        `select count(*)::int from staffroom.profiles where id in ('${owner.id}', '${admin.id}', '${member.id}')`,
      ),
    ).toBe(0);
    expect(await valueAs(caller('outsider'), `select count(*)::int from staffroom.organizations where id = '${ids.otherOrg}'`)).toBe(1);
  });

  it("learns nothing of a task's cost from task_tree_cost, which runs as the caller", async () => {
    // A charged step, written as the worker would: the organization's members see it, an outsider sees nothing.
    await db`insert into staffroom.task_messages (task_id, organization_id, index, role, content, step, cost_credits)
             values (${ids.task}, ${ids.org}, 1000, 'assistant', 'step', 1, 7)`;
    try {
      expect(await valueAs(caller('member'), `select staffroom.task_tree_cost('${ids.task}')::int`)).toBe(7);
      expect(await valueAs(caller('outsider'), `select staffroom.task_tree_cost('${ids.task}')::int`)).toBe(0);
    } finally {
      await db`delete from staffroom.task_messages where task_id = ${ids.task} and index = 1000`;
    }
  });

  it('learns nothing from the helper functions', async () => {
    expect(await valueAs(caller('outsider'), `select staffroom.org_role('${ids.org}', true)`)).toBeNull();
    expect(
      await valueAs(
        caller('outsider'),
        `select count(*)::int from staffroom.caller_organizations('member', false, true) o where o = '${ids.org}'`,
      ),
    ).toBe(0);
    expect(await valueAs(caller('outsider'), `select staffroom.shares_organization('${owner.id}')`)).toBe(false);
    expect(
      await valueAs(
        caller('outsider'),
        `select count(*)::int from staffroom.caller_memberships(1000) c where c.organization_id = '${ids.org}'`,
      ),
    ).toBe(0);
    expect(await valueAs(caller('key'), `select count(*)::int from staffroom.caller_memberships(1000)`)).toBe(0);
  });

  it.each([
    ['update_organization', () => `select staffroom.update_organization('${ids.org}', 'Mine', null, null, 'r')`],
    ['delete_organization', () => `select staffroom.delete_organization('${ids.org}', 'r')`],
    ['restore_organization', () => `select staffroom.restore_organization('${ids.org}', 'r')`],
    ['set_member_role on a member', () => `select staffroom.set_member_role('${ids.org}', '${member.id}', 'owner', 'r')`],
    ['set_member_role on themselves', () => `select staffroom.set_member_role('${ids.org}', '${outsider.id}', 'owner', 'r')`],
    ['remove_member', () => `select staffroom.remove_member('${ids.org}', '${owner.id}', 'r')`],
    ['create_invitation', () => `select staffroom.create_invitation('${ids.org}', '${outsider.email}', 'admin', '${hex64()}', 'r')`],
    ['revoke_invitation', () => `select staffroom.revoke_invitation('${ids.org}', '${ids.pendingInvitation}', 'r')`],
    ['create_api_key', () => `select staffroom.create_api_key('${ids.org}', 'mine', 'sk_live_abcde', '${hex64()}', null, 'r')`],
    ['revoke_api_key', () => `select staffroom.revoke_api_key('${ids.org}', '${ids.key}', 'r')`],
    ['create_employee', () => `select staffroom.create_employee('${ids.org}', 'Mole', 'mole', '', 'Dig.', null, '{}', 100, null, 'r')`],
    ['update_employee', () => `select staffroom.update_employee('${ids.org}', '${ids.helper}', '{"name": "Mole"}', 'r')`],
    ['delete_employee', () => `select staffroom.delete_employee('${ids.org}', '${ids.helper}', 'r')`],
    ['restore_employee', () => `select staffroom.restore_employee('${ids.org}', '${ids.helper}', 'r')`],
    ['create_task', () => `select staffroom.create_task('${ids.org}', '${ids.helper}', 'x', null, null, null, null)`],
    ['cancel_task', () => `select staffroom.cancel_task('${ids.org}', '${ids.task}')`],
    ['submit_tool_outputs', () => `select staffroom.submit_tool_outputs('${ids.org}', '${ids.task}', '[]')`],
    ['put_tool', () => `select staffroom.put_tool('${ids.org}', 'mcp__x__y', 'x', '{"type": "object"}', true, 'r')`],
    ['delete_tool', () => `select staffroom.delete_tool('${ids.org}', 'mcp__x__y', 'r')`],
    [
      'create_webhook_endpoint',
      () =>
        `select staffroom.create_webhook_endpoint('${ids.org}', 'https://evil.example/h', '', '{task.succeeded}', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA', 'r')`,
    ],
    [
      'update_webhook_endpoint',
      () => `select staffroom.update_webhook_endpoint('${ids.org}', '${randomUUID()}', '{"url": "https://evil.example/h"}', 'r')`,
    ],
    [
      'rotate_webhook_secret',
      () => `select staffroom.rotate_webhook_secret('${ids.org}', '${randomUUID()}', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA', 'r')`,
    ],
    ['delete_webhook_endpoint', () => `select staffroom.delete_webhook_endpoint('${ids.org}', '${randomUUID()}', 'r')`],
    ['redeliver_webhook', () => `select staffroom.redeliver_webhook('${ids.org}', '${randomUUID()}', '${randomUUID()}')`],
  ] as const)("%s with the organization's id is refused as not found", async (_name, statement) => {
    await expectRefused(caller('outsider'), statement(), refused('NOT_FOUND'));
  });

  it.each([
    ['set_member_role', () => `select staffroom.set_member_role('${ids.otherOrg}', '${member.id}', 'owner', 'r')`],
    ['remove_member', () => `select staffroom.remove_member('${ids.otherOrg}', '${owner.id}', 'r')`],
    ['revoke_invitation', () => `select staffroom.revoke_invitation('${ids.otherOrg}', '${ids.pendingInvitation}', 'r')`],
    ['revoke_api_key', () => `select staffroom.revoke_api_key('${ids.otherOrg}', '${ids.key}', 'r')`],
    ['update_employee', () => `select staffroom.update_employee('${ids.otherOrg}', '${ids.helper}', '{"name": "Mole"}', 'r')`],
    ['delete_employee', () => `select staffroom.delete_employee('${ids.otherOrg}', '${ids.helper}', 'r')`],
    ['restore_employee', () => `select staffroom.restore_employee('${ids.otherOrg}', '${ids.helper}', 'r')`],
    ['create_task', () => `select staffroom.create_task('${ids.otherOrg}', '${ids.helper}', 'x', null, null, null, null)`],
    ['cancel_task', () => `select staffroom.cancel_task('${ids.otherOrg}', '${ids.task}')`],
    ['submit_tool_outputs', () => `select staffroom.submit_tool_outputs('${ids.otherOrg}', '${ids.task}', '[]')`],
  ] as const)("%s through their own organization on the target's objects is refused as not found", async (_name, statement) => {
    await expectRefused(caller('outsider'), statement(), refused('NOT_FOUND'));
  });

  it('cannot accept an invitation sent to someone else', async () => {
    const tokenHash = hex64();
    await invite('invitee@example.com', 'admin', tokenHash);
    await expectRefused(
      caller('outsider'),
      `select staffroom.accept_invitation('${tokenHash}', 'r')`,
      refused('INVITATION_EMAIL_MISMATCH'),
    );
  });
});

describe('an API key', () => {
  it.each([
    ['create_organization', (): string => `select staffroom.create_organization('Keyed', 'keyed', 'offline-small', 'r')`],
    ['update_organization', () => `select staffroom.update_organization('${ids.org}', 'Keyed', null, null, 'r')`],
    ['delete_organization', () => `select staffroom.delete_organization('${ids.org}', 'r')`],
    ['restore_organization', () => `select staffroom.restore_organization('${ids.org}', 'r')`],
    ['set_member_role', () => `select staffroom.set_member_role('${ids.org}', '${member.id}', 'admin', 'r')`],
    ['remove_member', () => `select staffroom.remove_member('${ids.org}', '${member.id}', 'r')`],
    ['create_invitation', () => `select staffroom.create_invitation('${ids.org}', 'key@example.com', 'admin', '${hex64()}', 'r')`],
    ['revoke_invitation', () => `select staffroom.revoke_invitation('${ids.org}', '${ids.pendingInvitation}', 'r')`],
    ['accept_invitation', () => `select staffroom.accept_invitation('${hex64()}', 'r')`],
    ['create_api_key', () => `select staffroom.create_api_key('${ids.org}', 'more', 'sk_live_abcde', '${hex64()}', null, 'r')`],
    ['revoke_api_key', () => `select staffroom.revoke_api_key('${ids.org}', '${ids.key}', 'r')`],
    ['sync_profile', (): string => `select staffroom.sync_profile('Key')`],
  ] as const)('cannot run %s, which is for users only', async (_name, statement) => {
    await expectRefused(caller('key'), statement(), refused('FORBIDDEN'));
  });

  it.each(['invitations', 'api_keys', 'audit_events', 'profiles'])('reads no rows of %s', async (table) => {
    expect(await valueAs(caller('key'), `select count(*)::int from staffroom.${table}`)).toBe(0);
  });

  it('acts only in its own organization, and is recorded as itself', async () => {
    await expectRefused(
      caller('key'),
      `select staffroom.create_employee('${ids.otherOrg}', 'Mole', 'mole', '', 'Dig.', null, '{}', 100, null, 'r')`,
      refused('NOT_FOUND'),
    );
    await expectRefused(
      caller('key'),
      `select staffroom.create_task('${ids.otherOrg}', '${ids.otherEmployee}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
    await expectRefused(
      caller('key'),
      `select staffroom.create_task('${ids.org}', '${ids.otherEmployee}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
    // Nor does it define tools, register webhooks or answer tool calls in another organization.
    for (const statement of [
      `select staffroom.put_tool('${ids.otherOrg}', 'mcp__x__y', 'x', '{"type": "object"}', true, 'r')`,
      `select staffroom.create_webhook_endpoint('${ids.otherOrg}', 'https://evil.example/h', '', '{task.succeeded}', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA', 'r')`,
      `select staffroom.submit_tool_outputs('${ids.otherOrg}', '${ids.task}', '[]')`,
    ]) {
      await expectRefused(caller('key'), statement, refused('NOT_FOUND'));
    }
    const employee = await valueAs<string>(
      caller('key'),
      `select staffroom.create_employee('${ids.org}', 'Bot', 'bot', '', 'Automate.', null, '{}', 50, null, 'req_key')`,
    );
    const task = await valueAs<string>(
      caller('key'),
      `select staffroom.create_task('${ids.org}', '${employee}', 'Go.', null, null, null, null)`,
    );
    const [row] = await db`select organization_id, created_by, created_by_key from staffroom.tasks where id = ${task}`;
    expect(row).toEqual({ organization_id: ids.org, created_by: null, created_by_key: ids.key });
    const [event] =
      await db`select actor_type, actor_id, actor_email from staffroom.audit_events where action = 'employee.created' and target_id = ${employee}`;
    expect(event).toEqual({ actor_type: 'api_key', actor_id: ids.key, actor_email: null });
  });

  it('once revoked by the owner, its claims see and do nothing', async () => {
    const key = await createKey();
    expect(await valueAs(keyClaims(key), 'select count(*)::int from staffroom.employees')).toBeGreaterThan(0);
    await rowsAs(caller('owner'), `select staffroom.revoke_api_key('${ids.org}', '${key}', 'req_revoke')`);
    for (const table of ['organizations', 'employees', 'tasks', 'credit_accounts', 'memberships']) {
      expect(await valueAs(keyClaims(key), `select count(*)::int from staffroom.${table}`), table).toBe(0);
    }
    await expectRefused(
      keyClaims(key),
      `select staffroom.create_task('${ids.org}', '${ids.helper}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
    await expectRefused(
      keyClaims(key),
      `select staffroom.create_employee('${ids.org}', 'Mole', 'mole', '', 'Dig.', null, '{}', 100, null, 'r')`,
      refused('NOT_FOUND'),
    );
  });

  it('an expired key or a key named with the wrong organization sees and does nothing', async () => {
    for (const claims of [keyClaims(ids.expiredKey), keyClaims(ids.key, ids.otherOrg), keyClaims(ids.revokedKey)]) {
      expect(await valueAs(claims, 'select count(*)::int from staffroom.employees')).toBe(0);
      await expectRefused(
        claims,
        `select staffroom.create_task('${ids.org}', '${ids.helper}', 'x', null, null, null, null)`,
        refused('NOT_FOUND'),
      );
      await expectRefused(
        claims,
        `select staffroom.create_task('${ids.otherOrg}', '${ids.otherEmployee}', 'x', null, null, null, null)`,
        refused('NOT_FOUND'),
      );
    }
  });

  it("a user token carrying a key's claims acts only as that user", async () => {
    const outsiderWithKey: Claims = { ...userClaims(outsider), api_key_id: ids.key, organization_id: ids.org };
    expect(await valueAs(outsiderWithKey, `select count(*)::int from staffroom.employees where organization_id = '${ids.org}'`)).toBe(0);
    expect(await valueAs(outsiderWithKey, `select staffroom.org_role('${ids.org}')`)).toBeNull();
    await expectRefused(
      outsiderWithKey,
      `select staffroom.create_task('${ids.org}', '${ids.helper}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
    await expectRefused(
      outsiderWithKey,
      `select staffroom.create_employee('${ids.org}', 'Mole', 'mole', '', 'Dig.', null, '{}', 100, null, 'r')`,
      refused('NOT_FOUND'),
    );
    const memberWithKey: Claims = { ...userClaims(member), api_key_id: ids.key, organization_id: ids.org };
    expect(await valueAs(memberWithKey, `select staffroom.org_role('${ids.org}')`)).toBe('member');
    await expectRefused(
      memberWithKey,
      `select staffroom.create_employee('${ids.org}', 'Mole', 'mole', '', 'Dig.', null, '{}', 100, null, 'r')`,
      refused('FORBIDDEN'),
    );
    expect(await valueAs(memberWithKey, 'select count(*)::int from staffroom.api_keys')).toBe(0);
  });
});

describe('function privileges', () => {
  const userCallable = [
    'accept_invitation',
    'cancel_task',
    'caller_memberships',
    'caller_organizations',
    'create_api_key',
    'create_employee',
    'create_invitation',
    'create_organization',
    'create_task',
    'create_webhook_endpoint',
    'delete_employee',
    'delete_organization',
    'delete_tool',
    'delete_webhook_endpoint',
    'org_role',
    'put_tool',
    'redeliver_webhook',
    'remove_member',
    'restore_employee',
    'restore_organization',
    'revoke_api_key',
    'revoke_invitation',
    'rotate_webhook_secret',
    'set_member_role',
    'shares_organization',
    'submit_tool_outputs',
    'sync_profile',
    'task_tree_cost',
    'update_employee',
    'update_organization',
    'update_webhook_endpoint',
  ];

  it('authenticated may execute exactly the functions the API calls', () => {
    expect(
      functions
        .filter((f) => f.granted)
        .map((f) => f.name)
        .sort(),
    ).toEqual([...userCallable].sort());
  });

  it.each(['member', 'admin', 'owner', 'key', 'outsider'] as const)('%s is denied every other function of the schema', async (role) => {
    const others = functions.filter((f) => !f.granted);
    expect(others.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        'move_credits',
        'settle_task',
        'hold_task_step',
        'settle_task_step',
        'settle_task_step_exact',
        'expire_tasks',
        'record_audit',
        'caller_key',
        'grant_free_credits_for_this_month',
        'release_expired_slug',
        'free_organization_slug',
      ]),
    );
    const before = await snapshot();
    for (const f of others) expect(await attempt(caller(role), f.call), f.call).toEqual(denied);
    expect(await snapshot()).toEqual(before);
  });
});

describe('anon', () => {
  it('is denied every table', async () => {
    const before = await snapshot();
    for (const table of tables) {
      for (const statement of [
        `select * from staffroom.${table.name}`,
        `insert into staffroom.${table.name} default values`,
        `delete from staffroom.${table.name}`,
      ]) {
        expect(await attempt('anon', statement), statement).toEqual(denied);
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it('is denied every function', async () => {
    const before = await snapshot();
    for (const f of functions) expect(await attempt('anon', f.call), f.call).toEqual(denied);
    expect(await snapshot()).toEqual(before);
  });
});

describe('a deleted organization', () => {
  it('stays deleted for its admin, its API key and outsiders; only its owner sees it', async () => {
    const org = await valueAs<string>(
      caller('owner'),
      `select staffroom.create_organization('Closing', 'closing', 'offline-small', 'req_setup')`,
    );
    await db`insert into staffroom.memberships (organization_id, user_id, role) values (${org}, ${admin.id}, 'admin')`;
    const key = await createKey(org);
    const employee = await valueAs<string>(
      keyClaims(key, org),
      `select staffroom.create_employee('${org}', 'Clerk', 'clerk', '', 'File.', null, '{}', 100, null, 'r')`,
    );
    await rowsAs(caller('owner'), `select staffroom.delete_organization('${org}', 'req_delete')`);

    await expectRefused(caller('admin'), `select staffroom.restore_organization('${org}', 'r')`, refused('FORBIDDEN'));
    await expectRefused(caller('outsider'), `select staffroom.restore_organization('${org}', 'r')`, refused('NOT_FOUND'));
    await expectRefused(
      caller('admin'),
      `select staffroom.update_organization('${org}', 'Reopened', null, null, 'r')`,
      refused('NOT_FOUND'),
    );
    await expectRefused(
      keyClaims(key, org),
      `select staffroom.create_task('${org}', '${employee}', 'x', null, null, null, null)`,
      refused('NOT_FOUND'),
    );
    expect(await valueAs(caller('admin'), `select count(*)::int from staffroom.organizations where id = '${org}'`)).toBe(0);
    expect(await valueAs(keyClaims(key, org), 'select count(*)::int from staffroom.employees')).toBe(0);
    expect(await valueAs(caller('owner'), `select count(*)::int from staffroom.organizations where id = '${org}'`)).toBe(1);
  });
});

describe('shadowing a type the definer functions use', () => {
  // `integer` is a keyword that always means pg_catalog.int4; a body that writes `int4` looks the name up.
  const shadowed = ['text', 'jsonb', 'uuid', 'int4'];
  const shadow = (type: string) => `create domain pg_temp.${type} as pg_catalog.${type} check (pg_temp.evil(value::pg_catalog.text))`;

  it.each(['member', 'admin', 'owner', 'key', 'outsider'] as const)(
    '%s may not create a temporary type, function or table',
    async (role) => {
      const before = await snapshot();
      for (const statement of [
        ...shadowed.map(shadow),
        `create function pg_temp.evil(v pg_catalog.text) returns pg_catalog.bool language sql as 'select true'`,
        'create temporary table loot (x pg_catalog.int4)',
      ]) {
        const error = await run(caller(role), (tx) => tx.unsafe(statement)).then(
          () => ({ code: 'succeeded', message: '' }),
          (e: unknown) => e as { code?: string; message?: string },
        );
        expect(error.code, statement).toBe('42501');
        expect(error.message, statement).toMatch(/permission denied .*(temporary|pg_temp)/);
      }
      expect(await snapshot()).toEqual(before);
    },
  );

  it('with TEMP granted after all, no function a user may call runs a shadowing type', async () => {
    class Rollback extends Error {}
    const before = await snapshot();
    const organizationState = `
      select a.available::text as available, o.plan_id as plan, m.role
      from staffroom.organizations o
      join staffroom.credit_accounts a on a.organization_id = o.id
      join staffroom.memberships m on m.organization_id = o.id and m.user_id = '${member.id}'
      where o.id = '${ids.org}'`;
    const [state] = await db.unsafe(organizationState);
    expect(state).toEqual({ available: expect.any(String), plan: 'free', role: 'member' });
    // Every function authenticated may execute, each argument a null of its type named in full (so that the
    // call itself resolves no type through the caller's path).
    const calls = await db<{ name: string; call: string }[]>`
      select p.proname as name, format('select staffroom.%I(%s)', p.proname, coalesce(
        (select string_agg(format('null::%s.%I', t.typnamespace::regnamespace, t.typname), ', ' order by a.n)
         from unnest(p.proargtypes::oid[]) with ordinality a(oid, n) join pg_type t on t.oid = a.oid), '')) as call
      from pg_proc p
      where p.pronamespace = 'staffroom'::regnamespace and has_function_privilege('authenticated', p.oid, 'execute')
      order by p.proname`;
    expect(calls.map((c) => c.name).sort()).toEqual(
      functions
        .filter((f) => f.granted)
        .map((f) => f.name)
        .sort(),
    );
    const notices: string[] = [];
    // A connection of its own: PL/pgSQL compiles a function once per connection, and none may be compiled before
    // the shadows exist.
    const session = postgres(database.url, { max: 1, onnotice: (notice) => notices.push(notice.message ?? '') });
    try {
      await session
        .begin(async (tx) => {
          // What an attacker would hold if TEMP were granted: granted here for this transaction only.
          await tx.unsafe(`do $$ begin execute format('grant temporary on database %I to authenticated', current_database()); end $$`);
          await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(caller('member'))}, true)`;
          await tx.unsafe(`
            create function pg_temp.evil(v pg_catalog.text) returns pg_catalog.bool language plpgsql as $evil$
            begin
              raise notice 'shadow ran as %', current_user;
              -- Once: its own updates fire triggers whose bodies would call it again.
              if pg_catalog.current_setting('shadow.ran', true) = 'yes' then
                return true;
              end if;
              perform pg_catalog.set_config('shadow.ran', 'yes', true);
              begin
                update staffroom.credit_accounts set available = 777777777 where organization_id = '${ids.org}';
                update staffroom.organizations set plan_id = 'pro' where id = '${ids.org}';
                update staffroom.memberships set role = 'owner' where organization_id = '${ids.org}' and user_id = '${member.id}';
              exception when others then null;
              end;
              return true;
            end
            $evil$`);
          for (const type of shadowed) await tx.unsafe(shadow(type));
          // The shadows work wherever the path lets them: the member's own statement finds the domain.
          await tx.unsafe(`select 'x'::text`);
          expect(notices).toEqual(['shadow ran as authenticated']);
          notices.length = 0;

          for (const { call } of calls) await tx.savepoint((sp) => sp.unsafe(call)).catch(() => undefined);
          // And with real arguments, through whole bodies: the reported attack, reads, a new organization, a task
          // with its deferred event (fired now) and its cancellation.
          for (const call of [
            `select staffroom.sync_profile('x')`,
            `select * from staffroom.caller_organizations('member')`,
            `select staffroom.org_role('${ids.org}')`,
            `select staffroom.create_organization('Shadow', 'shadow-${randomBytes(3).toString('hex')}', 'offline-small', 'r')`,
          ]) {
            await tx.unsafe(call);
          }
          await tx
            .savepoint(async (sp) => {
              const [{ task } = { task: '' }] = await sp.unsafe<{ task: string }[]>(
                `select staffroom.create_task('${ids.org}', '${ids.helper}', 'Shadow.', null, null, null, null) as task`,
              );
              await sp.unsafe('set constraints all immediate');
              await sp.unsafe(`select staffroom.cancel_task('${ids.org}', '${task}')`);
              await sp.unsafe('set constraints all immediate');
              throw new Rollback();
            })
            .catch((error: unknown) => {
              if (!(error instanceof Rollback)) throw error;
            });
          expect([...new Set(notices)], 'the shadowing function ran inside a function').toEqual([]);
          await tx.unsafe('reset role');
          expect(await tx.unsafe(organizationState)).toEqual([state]);
          throw new Rollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error;
        });
    } finally {
      await session.end();
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('listening to the events channel', () => {
  it('a raw authenticated session hears that something happened, never to whom', async () => {
    const heard: string[] = [];
    const options = { max: 1, onnotify: (_channel: string, payload: string) => heard.push(payload) };
    const session = postgres(database.url, options as postgres.Options<Record<string, never>>);
    try {
      await session`set role authenticated`;
      await session`select set_config('request.jwt.claims', ${JSON.stringify(caller('member'))}, false)`;
      expect(await session`select current_user::text as role`).toEqual([{ role: 'authenticated' }]);
      await session`listen staffroom_events`;
      // Another organization's task (its queued event) and billing event (no task).
      const task = await valueAs<string>(
        caller('outsider'),
        `select staffroom.create_task('${ids.otherOrg}', '${ids.otherEmployee}', 'Watch.', null, null, null, null)`,
      );
      await withService(db, 'a billing event for the test', (tx) => tx`select staffroom.emit_billing_updated(${ids.otherOrg})`);
      for (let waited = 0; heard.length < 2 && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(heard.length).toBeGreaterThanOrEqual(2);
      const [seq] = await db<{ seq: string }[]>`
        select max(seq)::text as seq from staffroom.events where organization_id = ${ids.otherOrg}`;
      for (const payload of heard) {
        expect(payload).not.toMatch(/[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}/i);
        for (const id of [ids.otherOrg, task, ids.org, ids.otherEmployee]) {
          expect(payload).not.toContain(id);
          expect(payload).not.toContain(id.replaceAll('-', ''));
        }
        expect(payload).not.toContain(`:${seq!.seq}`);
        // Too short to carry an identifier in any encoding.
        expect(payload.length).toBeLessThan(16);
      }
    } finally {
      await session.end();
    }
  });
});
