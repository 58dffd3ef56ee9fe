-- The database as a security boundary. On Supabase every signed-in user can run SQL as `authenticated`
-- through the Data API and GraphQL against the exposed schemas (`public` by default). So:
--   1. every table and function of ours moves to `staffroom`, a schema that must never be exposed;
--   2. as if it were exposed anyway, `anon` gets nothing and `authenticated` gets SELECT on the columns the
--      API reads (Row Level Security decides which rows) and EXECUTE on the functions below — no INSERT,
--      UPDATE or DELETE on any table;
--   3. every write a user makes is one SECURITY DEFINER function (empty search_path) that checks the
--      caller's role, computes every money-relevant value itself (a task's reservation comes from the
--      employee, the model's price and the input) and writes the audit event; nobody else writes audit;
--   4. the service role (webhooks, the task worker) moves credits only through move_credits/settle_task.
-- Functions signal expected failures with SQLSTATE P0001 and hint `staffroom:<ErrorCode>`; the message is
-- written for the API's client and `detail`, when set, is the error's details as JSON.

create schema staffroom;
revoke all on schema staffroom from public;
grant usage on schema staffroom to authenticated, service_role;
-- Postgres makes every new function executable by PUBLIC; a per-schema default cannot take that away, so
-- the migration role's global default does: a function is executable by whom it is granted to, no one else.
alter default privileges revoke execute on functions from public;

-- 1. The old helpers go with the policies and the trigger that use them; then the tables move.
drop function public.org_role(uuid, boolean) cascade;
drop function public.user_org_role(uuid) cascade;
drop function public.shares_organization(uuid) cascade;
drop function public.can_found(uuid) cascade;
drop function public.keep_an_owner() cascade;
drop function public.accept_invitation(text, text);
drop function public.cancel_task(uuid);
drop function public.reserve_task_credits(uuid);
drop function public.move_credits(uuid, text, bigint, text, uuid, text);

do $$
declare
  p record;
begin
  for p in select policyname, tablename from pg_policies where schemaname = 'public' and tablename in (
    'profiles', 'organizations', 'memberships', 'invitations', 'api_keys', 'audit_events', 'employees', 'tasks',
    'credit_accounts', 'credit_ledger', 'billing_customers', 'subscriptions', 'credit_purchases', 'stripe_events')
  loop
    execute format('drop policy %I on public.%I', p.policyname, p.tablename);
  end loop;
end
$$;

alter table public.profiles set schema staffroom;
alter table public.organizations set schema staffroom;
alter table public.memberships set schema staffroom;
alter table public.invitations set schema staffroom;
alter table public.api_keys set schema staffroom;
alter table public.audit_events set schema staffroom;
alter table public.employees set schema staffroom;
alter table public.tasks set schema staffroom;
alter table public.credit_accounts set schema staffroom;
alter table public.credit_ledger set schema staffroom;
alter table public.billing_customers set schema staffroom;
alter table public.subscriptions set schema staffroom;
alter table public.credit_purchases set schema staffroom;
alter table public.stripe_events set schema staffroom;

-- 2. What money is computed from lives in the database too, so that no caller can bring its own figures.
-- The API's catalog (src/services/catalog.ts) holds the same values; a test keeps the two equal.
create table staffroom.plans (
  id text primary key,
  monthly_credits bigint not null check (monthly_credits >= 0),
  max_employees integer not null check (max_employees >= 0),
  max_concurrent_tasks integer not null check (max_concurrent_tasks >= 0),
  max_members integer not null check (max_members >= 0)
);
insert into staffroom.plans (id, monthly_credits, max_employees, max_concurrent_tasks, max_members) values
  ('free', 10000, 3, 1, 3),
  ('starter', 300000, 20, 5, 10),
  ('pro', 1200000, 200, 25, 100);

-- Prices in integer micro-dollars per million tokens.
create table staffroom.models (
  id text primary key,
  provider text not null check (provider in ('offline', 'openai', 'anthropic')),
  max_output_tokens integer not null check (max_output_tokens > 0),
  input_per_million bigint not null check (input_per_million >= 0),
  output_per_million bigint not null check (output_per_million >= 0),
  cached_input_per_million bigint not null check (cached_input_per_million >= 0)
);
insert into staffroom.models (id, provider, max_output_tokens, input_per_million, output_per_million, cached_input_per_million) values
  ('offline-small', 'offline', 4096, 100000, 400000, 50000),
  ('gpt-4o-mini', 'openai', 16384, 150000, 600000, 75000),
  ('gpt-4o', 'openai', 16384, 2500000, 10000000, 1250000),
  ('gpt-4.1-mini', 'openai', 32768, 400000, 1600000, 100000),
  ('claude-haiku-4-5', 'anthropic', 64000, 1000000, 5000000, 100000),
  ('claude-sonnet-4-5', 'anthropic', 64000, 3000000, 15000000, 300000);

alter table staffroom.organizations add constraint organizations_plan_id_fkey foreign key (plan_id) references staffroom.plans (id);
create index organizations_plan_id_idx on staffroom.organizations (plan_id);
alter table staffroom.plans enable row level security;
alter table staffroom.models enable row level security;

-- 3. Helpers. The caller is a user (auth.uid(), the token's `sub`) or an API key: claims without `sub` that
-- the server sets only after it verified the key (`api_key_id`, `organization_id`). A user's token always
-- has a `sub`, so it can never pass for a key, and a key acts only while it is live.

create function staffroom.fail(p_code text, p_message text, p_details jsonb default null) returns void
  language plpgsql set search_path = ''
as $$
begin
  raise exception using errcode = 'P0001', message = p_message, hint = 'staffroom:' || p_code,
    detail = coalesce(p_details::text, '');
end
$$;

create function staffroom.as_uuid(value text) returns uuid
  language sql immutable set search_path = ''
as $$
  select case when value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then value::uuid end
$$;

create function staffroom.role_rank(role text) returns integer
  language sql immutable set search_path = ''
as $$
  select case role when 'owner' then 3 when 'admin' then 2 when 'member' then 1 end
$$;

create function staffroom.distinct_in_order(items text[]) returns text[]
  language sql immutable set search_path = ''
as $$
  select coalesce(array_agg(item order by first), '{}')
  from (select item, min(n) as first from unnest(items) with ordinality as u(item, n) group by item) firsts
$$;

-- The calling API key, when the caller is a live one.
create function staffroom.caller_key() returns uuid
  language sql stable security definer set search_path = ''
as $$
  select k.id from staffroom.api_keys k
  join staffroom.organizations o on o.id = k.organization_id
  where auth.uid() is null
    and k.id = staffroom.as_uuid(auth.jwt() ->> 'api_key_id')
    and k.organization_id = staffroom.as_uuid(auth.jwt() ->> 'organization_id')
    and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
    and o.deleted_at is null
$$;

-- Organizations where the caller acts with at least `min_role` (member < admin < owner): a user's
-- memberships, or an API key's own organization, where it acts as an admin. Policies use it as
-- `organization_id in (select ...)`, which Postgres evaluates once per statement, not once per row.
create function staffroom.caller_organizations(min_role text, users_only boolean default false, include_deleted boolean default false)
  returns setof uuid
  language sql stable security definer set search_path = ''
as $$
  select m.organization_id from staffroom.memberships m
  join staffroom.organizations o on o.id = m.organization_id
  where m.user_id = auth.uid() and (include_deleted or o.deleted_at is null)
    and staffroom.role_rank(m.role) >= staffroom.role_rank(min_role)
  union all
  select k.organization_id from staffroom.api_keys k
  where not users_only and staffroom.role_rank(min_role) <= staffroom.role_rank('admin') and k.id = staffroom.caller_key()
$$;

-- The caller's role in one organization: a user's membership, `admin` for its live API key, or null.
-- Deleted organizations give null unless include_deleted (their owners may restore them).
create function staffroom.org_role(org uuid, include_deleted boolean default false) returns text
  language sql stable security definer set search_path = ''
as $$
  select coalesce(
    (select m.role from staffroom.memberships m
     join staffroom.organizations o on o.id = m.organization_id
     where m.organization_id = org and m.user_id = auth.uid() and (include_deleted or o.deleted_at is null)),
    (select 'admin' from staffroom.api_keys k where k.organization_id = org and k.id = staffroom.caller_key()))
$$;

-- The same for users only: members, invitations, API keys and the audit trail are never an API key's.
create function staffroom.user_org_role(org uuid, include_deleted boolean default false) returns text
  language sql stable security definer set search_path = ''
as $$
  select m.role from staffroom.memberships m
  join staffroom.organizations o on o.id = m.organization_id
  where m.organization_id = org and m.user_id = auth.uid() and (include_deleted or o.deleted_at is null)
$$;

-- Whether the caller shares a live organization with a user (to see co-members' profiles).
create function staffroom.shares_organization(other uuid) returns boolean
  language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from staffroom.memberships mine
    join staffroom.memberships theirs on theirs.organization_id = mine.organization_id
    join staffroom.organizations o on o.id = mine.organization_id
    where mine.user_id = auth.uid() and theirs.user_id = other and o.deleted_at is null
  )
$$;

-- The calling user, or a 403 for API keys (they act inside an organization, never as a person).
create function staffroom.require_user() returns uuid
  language plpgsql stable set search_path = ''
as $$
begin
  if auth.uid() is null then
    perform staffroom.fail('FORBIDDEN', 'API keys cannot do this; sign in as a user.');
  end if;
  return auth.uid();
end
$$;

-- The caller's role in an organization: 404 when the caller has none, 403 below min_role.
create function staffroom.require_role(org uuid, min_role text, action text, users_only boolean default true, include_deleted boolean default false)
  returns text
  language plpgsql set search_path = ''
as $$
declare
  role text;
begin
  role := case when users_only then staffroom.user_org_role(org, include_deleted) else staffroom.org_role(org, include_deleted) end;
  if role is null then
    perform staffroom.fail('NOT_FOUND', 'Organization not found.');
  end if;
  if staffroom.role_rank(role) < staffroom.role_rank(min_role) then
    perform staffroom.fail('FORBIDDEN', case min_role when 'owner' then 'Only owners' else 'Only owners and admins' end || ' can ' || action || '.');
  end if;
  return role;
end
$$;

-- Every audit event is written here, by the functions below, with the actor taken from the caller's claims.
create function staffroom.record_audit(
  org uuid, action text, target_type text, target_id text, before jsonb, after jsonb, request_id text
) returns void
  language sql security definer set search_path = ''
as $$
  insert into staffroom.audit_events (organization_id, actor_type, actor_id, actor_email, action, target_type, target_id, before, after, request_id)
  values (
    org,
    case when auth.uid() is not null then 'user' when staffroom.caller_key() is not null then 'api_key' else 'system' end,
    coalesce(auth.uid(), staffroom.caller_key()),
    case when auth.uid() is not null then lower(auth.jwt() ->> 'email') end,
    action, target_type, target_id, before, after, left(request_id, 128))
$$;

-- Every organization keeps an owner: checked under a lock on the organization row, so two concurrent
-- demotions or removals of its last two owners cannot both succeed.
create function staffroom.keep_an_owner() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  org uuid := old.organization_id;
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner') then
    return coalesce(new, old);
  end if;
  -- NO KEY UPDATE: serialises owner changes per organization without conflicting with the KEY SHARE locks
  -- that foreign keys (audit events written in the same transaction) take on the organization row.
  perform 1 from staffroom.organizations where id = org for no key update;
  if not found then
    return coalesce(new, old); -- the organization itself is being deleted
  end if;
  if not exists (select 1 from staffroom.memberships where organization_id = org and role = 'owner' and user_id <> old.user_id) then
    perform staffroom.fail('CONFLICT', 'An organization must keep at least one owner: make someone else owner first.');
  end if;
  return coalesce(new, old);
end
$$;
create trigger memberships_keep_an_owner
  before update of role or delete on staffroom.memberships
  for each row execute function staffroom.keep_an_owner();

-- What is final stays final, whoever writes: a revoked key is never live again; an accepted or revoked
-- invitation never pending again.
create function staffroom.keep_api_key_revoked() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  if old.revoked_at is not null and new.revoked_at is distinct from old.revoked_at then
    perform staffroom.fail('CONFLICT', 'A revoked API key stays revoked.');
  end if;
  return new;
end
$$;
create trigger api_keys_keep_revoked before update on staffroom.api_keys
  for each row execute function staffroom.keep_api_key_revoked();

create function staffroom.keep_invitation_final() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  if (old.accepted_at is not null and (new.accepted_at is distinct from old.accepted_at or new.accepted_by is distinct from old.accepted_by))
     or (old.revoked_at is not null and new.revoked_at is distinct from old.revoked_at) then
    perform staffroom.fail('CONFLICT', 'An accepted or revoked invitation stays so.');
  end if;
  return new;
end
$$;
create trigger invitations_keep_final before update on staffroom.invitations
  for each row execute function staffroom.keep_invitation_final();

-- 4. Credits. move_credits is the only way `available` changes: one ledger entry, once per (kind, reference),
-- under the account row's lock. Returns the balance after it, or null when that entry exists already.
create function staffroom.move_credits(
  p_org uuid, p_kind text, p_amount bigint, p_reference text, p_task uuid, p_description text
) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  after bigint;
begin
  insert into staffroom.credit_accounts (organization_id) values (p_org) on conflict do nothing;
  if p_amount = 0 then
    return (select available from staffroom.credit_accounts where organization_id = p_org);
  end if;
  perform 1 from staffroom.credit_ledger where organization_id = p_org and kind = p_kind and reference = p_reference;
  if found then
    return null;
  end if;
  update staffroom.credit_accounts set available = available + p_amount, updated_at = now()
    where organization_id = p_org and available + p_amount >= 0
    returning available into after;
  if after is null then
    raise exception 'insufficient credits' using errcode = 'P0001', hint = 'insufficient_credits';
  end if;
  insert into staffroom.credit_ledger (organization_id, kind, amount, balance_after, reference, task_id, description)
    values (p_org, p_kind, p_amount, after, p_reference, p_task, coalesce(p_description, ''));
  return after;
end
$$;

-- The free plan's credits for the current (UTC) month, once: the reference makes it idempotent.
create function staffroom.grant_free_credits_for_this_month(p_org uuid) returns void
  language plpgsql security definer set search_path = ''
as $$
begin
  perform staffroom.move_credits(o.id, 'grant', p.monthly_credits, 'grant:free:' || to_char(now() at time zone 'UTC', 'YYYY-MM'),
                                 null, 'Free plan monthly credits')
  from staffroom.organizations o join staffroom.plans p on p.id = o.plan_id
  where o.id = p_org and o.plan_id = 'free';
end
$$;

-- Gives back what the ledger holds for a task's reservation — never more — once.
create function staffroom.release_reservation(p_task uuid, p_description text) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  t staffroom.tasks%rowtype;
  held bigint;
begin
  select * into t from staffroom.tasks where id = p_task;
  select -l.amount into held from staffroom.credit_ledger l
    where l.organization_id = t.organization_id and l.kind = 'reservation' and l.reference = 'task:' || t.id;
  if coalesce(held, 0) > 0 then
    perform staffroom.move_credits(t.organization_id, 'release', held, 'task:' || t.id, t.id, p_description);
  end if;
  return coalesce(held, 0);
end
$$;

-- The worker settles a finished task: the reservation back, then the cost, capped at what was reserved.
create function staffroom.settle_task(p_task uuid, p_cost bigint, p_description text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  held bigint;
  org uuid;
begin
  select organization_id into org from staffroom.tasks where id = p_task;
  held := staffroom.release_reservation(p_task, 'Reservation released');
  if least(p_cost, held) > 0 then
    perform staffroom.move_credits(org, 'usage', -least(p_cost, held), 'task:' || p_task, p_task, p_description);
  end if;
end
$$;

-- Cancels a queued task and releases its reservation; a running one gets a request its worker sees.
create function staffroom.cancel_queued_task(p_task uuid, p_description text) returns void
  language plpgsql security definer set search_path = ''
as $$
begin
  update staffroom.tasks set status = 'canceled', cancel_requested_at = now(), finished_at = now(), updated_at = now()
    where id = p_task and status = 'queued';
  if found then
    perform staffroom.release_reservation(p_task, p_description);
  end if;
end
$$;

-- 5. What users do. Every function checks the caller, then writes and audits in the same statement.

-- The caller's profile from the verified token's claims: the id is `sub`, the email the token's (never a
-- value the client passes); the display name is the user's own to set.
create function staffroom.sync_profile(p_name text default null) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_user uuid := staffroom.require_user();
  v_email text := lower(auth.jwt() ->> 'email');
begin
  if v_email is null or v_email = '' then
    perform staffroom.fail('TOKEN_INVALID', 'The access token has no email claim.');
  end if;
  insert into staffroom.profiles as p (id, email, name) values (v_user, v_email, left(p_name, 200))
  on conflict (id) do update set email = excluded.email, name = coalesce(excluded.name, p.name), updated_at = now()
  where p.email is distinct from excluded.email or (excluded.name is not null and p.name is distinct from excluded.name);
end
$$;

create function staffroom.create_organization(p_name text, p_slug text, p_default_model text, p_request_id text) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_user uuid := staffroom.require_user();
  v_org uuid;
begin
  if not exists (select 1 from staffroom.models where id = p_default_model) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid body.defaultModel: "%s" is not a model from listModels.', p_default_model),
      jsonb_build_array(jsonb_build_object('field', 'body.defaultModel', 'message', format('"%s" is not a model from listModels', p_default_model))));
  end if;
  -- Every organization starts on the free plan; only Stripe (through the service role) changes it.
  insert into staffroom.organizations (name, slug, plan_id, default_model, created_by)
    values (p_name, p_slug, 'free', p_default_model, v_user)
    returning id into v_org;
  insert into staffroom.memberships (organization_id, user_id, role) values (v_org, v_user, 'owner');
  perform staffroom.grant_free_credits_for_this_month(v_org);
  perform staffroom.record_audit(v_org, 'organization.created', 'organization', v_org::text, null,
    jsonb_build_object('name', p_name, 'slug', p_slug, 'defaultModel', p_default_model), p_request_id);
  return v_org;
end
$$;

create function staffroom.update_organization(p_org uuid, p_name text, p_slug text, p_default_model text, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  before staffroom.organizations%rowtype;
  after staffroom.organizations%rowtype;
  b jsonb := '{}';
  a jsonb := '{}';
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'admin', 'change the organization');
  if p_default_model is not null and not exists (select 1 from staffroom.models where id = p_default_model) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid body.defaultModel: "%s" is not a model from listModels.', p_default_model),
      jsonb_build_array(jsonb_build_object('field', 'body.defaultModel', 'message', format('"%s" is not a model from listModels', p_default_model))));
  end if;
  select * into before from staffroom.organizations where id = p_org;
  update staffroom.organizations set name = coalesce(p_name, name), slug = coalesce(p_slug, slug),
      default_model = coalesce(p_default_model, default_model), updated_at = now()
    where id = p_org returning * into after;
  if before.name is distinct from after.name then b := b || jsonb_build_object('name', before.name); a := a || jsonb_build_object('name', after.name); end if;
  if before.slug is distinct from after.slug then b := b || jsonb_build_object('slug', before.slug); a := a || jsonb_build_object('slug', after.slug); end if;
  if before.default_model is distinct from after.default_model then
    b := b || jsonb_build_object('defaultModel', before.default_model); a := a || jsonb_build_object('defaultModel', after.default_model);
  end if;
  if a <> '{}' then
    perform staffroom.record_audit(p_org, 'organization.updated', 'organization', p_org::text, b, a, p_request_id);
  end if;
end
$$;

create function staffroom.delete_organization(p_org uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_task uuid;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'delete the organization');
  for v_task in select t.id from staffroom.tasks t where t.organization_id = p_org and t.status = 'queued' loop
    perform staffroom.cancel_queued_task(v_task, 'Organization deleted: reservation released');
  end loop;
  update staffroom.organizations set deleted_at = now(), updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.deleted', 'organization', p_org::text, null, null, p_request_id);
end
$$;

-- An owner restores a deleted organization within 30 days.
create function staffroom.restore_organization(p_org uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_deleted timestamptz;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'restore the organization', true, true);
  select o.deleted_at into v_deleted from staffroom.organizations o where o.id = p_org;
  if v_deleted is null then
    perform staffroom.fail('CONFLICT', 'The organization is not deleted.');
  end if;
  if v_deleted < now() - interval '30 days' then
    perform staffroom.fail('NOT_FOUND', 'Organization not found.');
  end if;
  update staffroom.organizations set deleted_at = null, updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.restored', 'organization', p_org::text, null, null, p_request_id);
end
$$;

-- Roles: owners do anything; admins manage members and admins but never owners, and make nobody owner.
create function staffroom.set_member_role(p_org uuid, p_user uuid, p_role text, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  mine text;
  theirs text;
begin
  perform staffroom.require_user();
  -- Serialises role changes per organization: a demotion committed meanwhile is seen below.
  perform 1 from staffroom.organizations where id = p_org for no key update;
  mine := staffroom.require_role(p_org, 'admin', 'change roles');
  select role into theirs from staffroom.memberships where organization_id = p_org and user_id = p_user;
  if theirs is null then
    perform staffroom.fail('NOT_FOUND', 'Member not found.');
  end if;
  if p_role is null or staffroom.role_rank(p_role) is null then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.role: must be owner, admin or member.',
      '[{"field": "body.role", "message": "must be owner, admin or member"}]');
  end if;
  if mine = 'admin' and (theirs = 'owner' or p_role = 'owner') then
    perform staffroom.fail('FORBIDDEN', 'Only owners can change an owner or make someone owner.');
  end if;
  if theirs = p_role then
    return;
  end if;
  update staffroom.memberships set role = p_role where organization_id = p_org and user_id = p_user;
  perform staffroom.record_audit(p_org, 'member.role_changed', 'member', p_user::text,
    jsonb_build_object('role', theirs), jsonb_build_object('role', p_role), p_request_id);
end
$$;

-- Anyone may leave; owners and admins remove others, admins never an owner.
create function staffroom.remove_member(p_org uuid, p_user uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_user uuid := staffroom.require_user();
  mine text;
  target staffroom.memberships%rowtype;
begin
  perform 1 from staffroom.organizations where id = p_org for no key update;
  mine := staffroom.require_role(p_org, 'member', 'leave');
  select * into target from staffroom.memberships where organization_id = p_org and user_id = p_user;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Member not found.');
  end if;
  if p_user <> v_user and mine = 'member' then
    perform staffroom.fail('FORBIDDEN', 'Only owners and admins can remove others.');
  end if;
  if p_user <> v_user and mine = 'admin' and target.role = 'owner' then
    perform staffroom.fail('FORBIDDEN', 'Only owners can remove an owner.');
  end if;
  perform staffroom.record_audit(p_org, case when p_user = v_user then 'member.left' else 'member.removed' end, 'member', p_user::text,
    jsonb_build_object('role', target.role, 'email', (select email from staffroom.profiles where id = p_user)), null, p_request_id);
  delete from staffroom.memberships where organization_id = p_org and user_id = p_user;
end
$$;

-- The plan's member limit: members, and with p_counting_pending the pending invitations too (each may become
-- one). Counted under the organization row's lock, so concurrent invitations or acceptances cannot pass it.
create function staffroom.check_member_limit(p_org uuid, p_counting_pending boolean) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_plan staffroom.plans%rowtype;
  v_taken bigint;
begin
  perform 1 from staffroom.organizations where id = p_org for no key update;
  select p.* into v_plan from staffroom.plans p join staffroom.organizations o on o.plan_id = p.id where o.id = p_org;
  v_taken := (select count(*) from staffroom.memberships m where m.organization_id = p_org);
  if p_counting_pending then
    v_taken := v_taken + (select count(*) from staffroom.invitations i where i.organization_id = p_org
                          and i.accepted_at is null and i.revoked_at is null and i.expires_at > now());
  end if;
  if v_taken >= v_plan.max_members then
    perform staffroom.fail('CONFLICT', format('The %s plan allows %s members%s; remove someone or upgrade the plan.', v_plan.id,
      v_plan.max_members, case when p_counting_pending then ', pending invitations included' else '' end));
  end if;
end
$$;

-- Invitations last 7 days; the token is made by the server and only its SHA-256 is kept.
create function staffroom.create_invitation(p_org uuid, p_email text, p_role text, p_token_hash text, p_request_id text) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_user uuid := staffroom.require_user();
  v_email text := lower(p_email);
  v_invitation uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage invitations');
  if p_role is null or p_role not in ('admin', 'member') then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.role: must be admin or member.', '[{"field": "body.role", "message": "must be admin or member"}]');
  end if;
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    perform staffroom.fail('VALIDATION_ERROR', 'The invitation token hash must be a SHA-256 in hex.');
  end if;
  if exists (select 1 from staffroom.memberships m join staffroom.profiles p on p.id = m.user_id
             where m.organization_id = p_org and lower(p.email) = v_email) then
    perform staffroom.fail('CONFLICT', format('%s is already a member.', v_email), '[{"field": "body.email", "message": "already a member"}]');
  end if;
  -- A pending invitation past its expiry no longer blocks a new one for the same address.
  update staffroom.invitations i set revoked_at = i.expires_at
    where i.organization_id = p_org and i.email = v_email and i.accepted_at is null and i.revoked_at is null and i.expires_at <= now();
  if not exists (select 1 from staffroom.invitations i where i.organization_id = p_org and i.email = v_email
                 and i.accepted_at is null and i.revoked_at is null) then
    perform staffroom.check_member_limit(p_org, true);
  end if;
  insert into staffroom.invitations (organization_id, email, role, token_hash, invited_by, expires_at)
    values (p_org, v_email, p_role, p_token_hash, v_user, now() + interval '7 days')
    returning id into v_invitation;
  perform staffroom.record_audit(p_org, 'invitation.created', 'invitation', v_invitation::text, null,
    jsonb_build_object('email', v_email, 'role', p_role), p_request_id);
  return v_invitation;
end
$$;

create function staffroom.revoke_invitation(p_org uuid, p_invitation uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  inv staffroom.invitations%rowtype;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'admin', 'manage invitations');
  select * into inv from staffroom.invitations where organization_id = p_org and id = p_invitation for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Invitation not found.');
  end if;
  if inv.accepted_at is not null or inv.revoked_at is not null or inv.expires_at <= now() then
    perform staffroom.fail('CONFLICT', format('The invitation is %s, not pending.',
      case when inv.accepted_at is not null then 'accepted' when inv.revoked_at is not null then 'revoked' else 'expired' end));
  end if;
  update staffroom.invitations set revoked_at = now() where id = inv.id;
  perform staffroom.record_audit(p_org, 'invitation.revoked', 'invitation', inv.id::text,
    jsonb_build_object('email', inv.email, 'role', inv.role), null, p_request_id);
end
$$;

-- Accepting: the invitee is not a member yet, so RLS hides the invitation from them. This checks the
-- token (by hash), that it is pending and unexpired, sent to the caller's email, and that the organization
-- is live; it locks the invitation, so a token is used once even under concurrency. Returns the organization.
create function staffroom.accept_invitation(p_token_hash text, p_request_id text) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  inv staffroom.invitations%rowtype;
  v_user uuid := staffroom.require_user();
  v_email text := lower(auth.jwt() ->> 'email');
begin
  select * into inv from staffroom.invitations i where i.token_hash = p_token_hash for update;
  if not found or inv.revoked_at is not null or inv.expires_at <= now()
     or exists (select 1 from staffroom.organizations o where o.id = inv.organization_id and o.deleted_at is not null) then
    perform staffroom.fail('NOT_FOUND', 'Invitation not found: unknown, revoked or expired.');
  end if;
  if inv.email is distinct from v_email then
    perform staffroom.fail('FORBIDDEN', 'This invitation was sent to another email address.');
  end if;
  if inv.accepted_at is not null then
    perform staffroom.fail('CONFLICT', 'This invitation has already been accepted.');
  end if;
  if exists (select 1 from staffroom.memberships m where m.organization_id = inv.organization_id and m.user_id = v_user) then
    perform staffroom.fail('CONFLICT', 'You are already a member of this organization.');
  end if;
  perform staffroom.check_member_limit(inv.organization_id, false);
  insert into staffroom.memberships (organization_id, user_id, role) values (inv.organization_id, v_user, inv.role);
  update staffroom.invitations set accepted_at = now(), accepted_by = v_user where id = inv.id;
  perform staffroom.record_audit(inv.organization_id, 'invitation.accepted', 'invitation', inv.id::text, null,
    jsonb_build_object('role', inv.role, 'email', inv.email), p_request_id);
  return inv.organization_id;
end
$$;

-- API keys: the secret is made by the server and only its SHA-256 is kept.
create function staffroom.create_api_key(
  p_org uuid, p_name text, p_prefix text, p_secret_hash text, p_expires_at timestamptz, p_request_id text
) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_user uuid := staffroom.require_user();
  v_key uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage API keys');
  if p_secret_hash is null or p_secret_hash !~ '^[0-9a-f]{64}$' or p_prefix is null or p_prefix !~ '^sk_live_[A-Za-z0-9]{5}$' then
    perform staffroom.fail('VALIDATION_ERROR', 'The key must be given as its sk_live_ prefix and the SHA-256 of its secret.');
  end if;
  if p_expires_at is not null and p_expires_at <= now() then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.expiresAt: must be in the future.', '[{"field": "body.expiresAt", "message": "must be in the future"}]');
  end if;
  insert into staffroom.api_keys (organization_id, name, prefix, secret_hash, created_by, expires_at)
    values (p_org, p_name, p_prefix, p_secret_hash, v_user, p_expires_at)
    returning id into v_key;
  perform staffroom.record_audit(p_org, 'api_key.created', 'api_key', v_key::text, null,
    jsonb_build_object('name', p_name, 'prefix', p_prefix, 'expiresAt', to_json(p_expires_at) #>> '{}'), p_request_id);
  return v_key;
end
$$;

-- Idempotent: revoking a revoked key changes nothing and writes no event.
create function staffroom.revoke_api_key(p_org uuid, p_key uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  k staffroom.api_keys%rowtype;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'admin', 'manage API keys');
  select * into k from staffroom.api_keys where organization_id = p_org and id = p_key for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'API key not found.');
  end if;
  if k.revoked_at is null then
    update staffroom.api_keys set revoked_at = now() where id = k.id;
    perform staffroom.record_audit(p_org, 'api_key.revoked', 'api_key', k.id::text,
      jsonb_build_object('name', k.name, 'prefix', k.prefix), null, p_request_id);
  end if;
end
$$;

-- Employees. The plan's limit is counted under a per-organization lock, so concurrent hires cannot pass it.
create function staffroom.check_employee_limit(p_org uuid) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_plan staffroom.plans%rowtype;
begin
  perform pg_advisory_xact_lock(hashtext('employees:' || p_org));
  select p.* into v_plan from staffroom.plans p join staffroom.organizations o on o.plan_id = p.id where o.id = p_org;
  if (select count(*) from staffroom.employees e where e.organization_id = p_org and e.deleted_at is null) >= v_plan.max_employees then
    perform staffroom.fail('CONFLICT', format('The %s plan allows %s employees; delete one or upgrade the plan.', v_plan.id, v_plan.max_employees));
  end if;
end
$$;

create function staffroom.check_model(p_model text, p_field text) returns void
  language plpgsql stable security definer set search_path = ''
as $$
begin
  if p_model is not null and not exists (select 1 from staffroom.models where id = p_model) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid %s: "%s" is not a model from listModels.', p_field, p_model),
      jsonb_build_array(jsonb_build_object('field', p_field, 'message', format('"%s" is not a model from listModels', p_model))));
  end if;
end
$$;

create function staffroom.create_employee(
  p_org uuid, p_name text, p_slug text, p_description text, p_instructions text, p_model text, p_tools text[],
  p_max_output_tokens integer, p_request_id text
) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_employee uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  perform staffroom.check_model(p_model, 'body.model');
  perform staffroom.check_employee_limit(p_org);
  insert into staffroom.employees (organization_id, name, slug, description, instructions, model, tools, max_output_tokens)
    values (p_org, p_name, p_slug, coalesce(p_description, ''), p_instructions, p_model,
            staffroom.distinct_in_order(coalesce(p_tools, '{}')), coalesce(p_max_output_tokens, 4096))
    returning id into v_employee;
  perform staffroom.record_audit(p_org, 'employee.created', 'employee', v_employee::text, null,
    jsonb_build_object('name', p_name, 'slug', p_slug, 'model', p_model), p_request_id);
  return v_employee;
end
$$;

-- The employee as the audit trail shows it: instructions by their length only.
create function staffroom.employee_audit_view(e staffroom.employees) returns jsonb
  language sql immutable set search_path = ''
as $$
  select jsonb_build_object('name', e.name, 'slug', e.slug, 'description', e.description,
    'instructions', char_length(e.instructions) || ' characters', 'model', e.model, 'tools', to_jsonb(e.tools),
    'maxOutputTokens', e.max_output_tokens)
$$;

-- A partial update: only the keys present in p_patch change (a JSON null model means the default model).
create function staffroom.update_employee(p_org uuid, p_employee uuid, p_patch jsonb, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  before staffroom.employees%rowtype;
  after staffroom.employees%rowtype;
  b jsonb := '{}';
  a jsonb := '{}';
  k text;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  if jsonb_typeof(p_patch) is distinct from 'object' then
    perform staffroom.fail('VALIDATION_ERROR', 'The patch must be an object.');
  end if;
  select * into before from staffroom.employees where organization_id = p_org and id = p_employee and deleted_at is null for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.');
  end if;
  if p_patch ? 'model' then
    perform staffroom.check_model(p_patch ->> 'model', 'body.model');
  end if;
  update staffroom.employees set
      name = case when p_patch ? 'name' then p_patch ->> 'name' else name end,
      slug = case when p_patch ? 'slug' then p_patch ->> 'slug' else slug end,
      description = case when p_patch ? 'description' then p_patch ->> 'description' else description end,
      instructions = case when p_patch ? 'instructions' then p_patch ->> 'instructions' else instructions end,
      model = case when p_patch ? 'model' then p_patch ->> 'model' else model end,
      tools = case when p_patch ? 'tools' then staffroom.distinct_in_order(array(select jsonb_array_elements_text(p_patch -> 'tools'))) else tools end,
      max_output_tokens = case when p_patch ? 'maxOutputTokens' then (p_patch ->> 'maxOutputTokens')::integer else max_output_tokens end,
      updated_at = now()
    where id = p_employee
    returning * into after;
  for k in select jsonb_object_keys(p_patch) loop
    if k in ('name', 'slug', 'description', 'instructions', 'model', 'tools', 'maxOutputTokens')
       and to_jsonb(before) -> (case k when 'maxOutputTokens' then 'max_output_tokens' else k end)
           is distinct from to_jsonb(after) -> (case k when 'maxOutputTokens' then 'max_output_tokens' else k end) then
      b := b || jsonb_build_object(k, staffroom.employee_audit_view(before) -> k);
      a := a || jsonb_build_object(k, staffroom.employee_audit_view(after) -> k);
    end if;
  end loop;
  if a <> '{}' then
    perform staffroom.record_audit(p_org, 'employee.updated', 'employee', p_employee::text, b, a, p_request_id);
  end if;
end
$$;

-- Deleting an employee cancels its queued tasks (their credits come back); a running task finishes.
create function staffroom.delete_employee(p_org uuid, p_employee uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_canceled integer := 0;
  v_task uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  update staffroom.employees set deleted_at = now(), updated_at = now()
    where organization_id = p_org and id = p_employee and deleted_at is null;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.');
  end if;
  for v_task in select t.id from staffroom.tasks t where t.organization_id = p_org and t.employee_id = p_employee and t.status = 'queued' loop
    perform staffroom.cancel_queued_task(v_task, 'Employee deleted: reservation released');
    v_canceled := v_canceled + 1;
  end loop;
  perform staffroom.record_audit(p_org, 'employee.deleted', 'employee', p_employee::text, null,
    jsonb_build_object('canceledTasks', v_canceled), p_request_id);
end
$$;

create function staffroom.restore_employee(p_org uuid, p_employee uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_deleted timestamptz;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  select e.deleted_at into v_deleted from staffroom.employees e where e.organization_id = p_org and e.id = p_employee for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.');
  end if;
  if v_deleted is null then
    perform staffroom.fail('CONFLICT', 'The employee is not deleted.');
  end if;
  perform staffroom.check_employee_limit(p_org);
  update staffroom.employees set deleted_at = null, updated_at = now() where id = p_employee;
  perform staffroom.record_audit(p_org, 'employee.restored', 'employee', p_employee::text, null, null, p_request_id);
end
$$;

-- Tasks. The reservation is the most the task can cost, computed here: no tokenizer makes more tokens than
-- bytes, so the prompt's UTF-8 length (plus a margin for the chat format) bounds its input tokens, billed
-- at the input price, and the output limit bounds the rest; integers, rounded up once to a credit
-- (100 micro-dollars). With an idempotency key, the same key and input return the first task.
create function staffroom.create_task(p_org uuid, p_employee uuid, p_input text, p_idempotency_key text) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_org staffroom.organizations%rowtype;
  v_employee staffroom.employees%rowtype;
  v_model staffroom.models%rowtype;
  v_request_hash text := encode(sha256(convert_to(p_employee::text || ':' || coalesce(p_input, ''), 'UTF8')), 'hex');
  v_max_output integer;
  v_reserved bigint;
  v_available bigint;
  v_task uuid;
begin
  perform staffroom.require_role(p_org, 'member', 'create tasks', false);
  select * into v_org from staffroom.organizations where id = p_org;
  if p_idempotency_key is not null then
    v_task := staffroom.replay_task(p_org, p_idempotency_key, v_request_hash);
    if v_task is not null then
      return v_task;
    end if;
  end if;
  select * into v_employee from staffroom.employees e where e.organization_id = p_org and e.id = p_employee and e.deleted_at is null;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.', '[{"field": "body.employeeId", "message": "no such employee"}]');
  end if;
  select * into v_model from staffroom.models m where m.id = coalesce(v_employee.model, v_org.default_model);
  if not found then
    perform staffroom.fail('CONFLICT', format('The employee''s model %s is no longer offered; choose another.', coalesce(v_employee.model, v_org.default_model)));
  end if;
  v_max_output := least(v_employee.max_output_tokens, v_model.max_output_tokens);
  v_reserved := ceil(((octet_length(v_employee.instructions) + octet_length(p_input) + 64)::numeric * v_model.input_per_million
                      + v_max_output::numeric * v_model.output_per_million) / 100000000)::bigint;
  perform staffroom.grant_free_credits_for_this_month(p_org);
  insert into staffroom.credit_accounts (organization_id) values (p_org) on conflict do nothing;
  select a.available into v_available from staffroom.credit_accounts a where a.organization_id = p_org for update;
  if v_available < v_reserved then
    perform staffroom.fail('PAYMENT_REQUIRED', format('This task needs up to %s credits; %s are available.', v_reserved, v_available),
      jsonb_build_array(jsonb_build_object('field', 'credits', 'message', format('available %s, needed %s', v_available, v_reserved))));
  end if;
  insert into staffroom.tasks (organization_id, employee_id, created_by, created_by_key, input, instructions, model,
                               max_output_tokens, reserved_credits, idempotency_key, request_hash)
    values (p_org, v_employee.id, auth.uid(), staffroom.caller_key(), p_input, v_employee.instructions, v_model.id,
            v_max_output, v_reserved, p_idempotency_key, case when p_idempotency_key is not null then v_request_hash end)
    on conflict (organization_id, idempotency_key) where idempotency_key is not null do nothing
    returning id into v_task;
  if v_task is null then
    -- A concurrent request with the same key committed first.
    return staffroom.replay_task(p_org, p_idempotency_key, v_request_hash);
  end if;
  perform staffroom.move_credits(p_org, 'reservation', -v_reserved, 'task:' || v_task, v_task, 'Reserved for a task');
  return v_task;
end
$$;

create function staffroom.replay_task(p_org uuid, p_idempotency_key text, p_request_hash text) returns uuid
  language plpgsql stable security definer set search_path = ''
as $$
declare
  earlier record;
begin
  select t.id, t.request_hash into earlier from staffroom.tasks t where t.organization_id = p_org and t.idempotency_key = p_idempotency_key;
  if not found then
    return null;
  end if;
  if earlier.request_hash is distinct from p_request_hash then
    perform staffroom.fail('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used with a different request body.',
      '[{"field": "header.Idempotency-Key", "message": "already used for another request"}]');
  end if;
  return earlier.id;
end
$$;

-- Cancels a task for a member: a queued one at once (its reservation comes back), a running one by
-- request (its worker stops when it sees cancel_requested_at). Returns canceled, requested or unchanged.
create function staffroom.cancel_task(p_org uuid, p_task uuid) returns text
  language plpgsql security definer set search_path = ''
as $$
declare
  t staffroom.tasks%rowtype;
begin
  perform staffroom.require_role(p_org, 'member', 'cancel tasks', false);
  select * into t from staffroom.tasks where organization_id = p_org and id = p_task for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Task not found.');
  end if;
  if t.status = 'queued' then
    perform staffroom.cancel_queued_task(t.id, 'Task canceled: reservation released');
    return 'canceled';
  elsif t.status = 'running' then
    update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() where id = t.id;
    return 'requested';
  elsif t.status = 'canceled' then
    return 'unchanged';
  end if;
  perform staffroom.fail('CONFLICT', 'The task has finished; it cannot be canceled.');
  return null;
end
$$;

-- 6. Row Level Security: who sees which rows. Nothing here lets anyone write.
create policy profiles_select on staffroom.profiles for select to authenticated
  using (id = (select auth.uid()) or staffroom.shares_organization(id));
create policy organizations_select on staffroom.organizations for select to authenticated
  using (id in (select staffroom.caller_organizations('member')) or id in (select staffroom.caller_organizations('owner', true, true)));
create policy memberships_select on staffroom.memberships for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')) or user_id = (select auth.uid()));
create policy invitations_select on staffroom.invitations for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('admin', true)));
create policy api_keys_select on staffroom.api_keys for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('admin', true)));
create policy audit_events_select on staffroom.audit_events for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('admin', true)));
create policy employees_select on staffroom.employees for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
create policy tasks_select on staffroom.tasks for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
create policy credit_accounts_select on staffroom.credit_accounts for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
create policy credit_ledger_select on staffroom.credit_ledger for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('admin')));
create policy billing_customers_select on staffroom.billing_customers for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
create policy subscriptions_select on staffroom.subscriptions for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
-- credit_purchases, stripe_events, plans, models: no policy; the service role and the functions read them.

-- 7. Privileges. Start from nothing, then grant what each role's own queries need.
revoke all on all tables in schema staffroom from public, anon, authenticated, service_role;
revoke all on all functions in schema staffroom from public, anon, authenticated, service_role;

-- authenticated reads, column by column: never a secret's hash, an idempotency key or a worker's lease.
grant select on staffroom.profiles, staffroom.organizations, staffroom.memberships, staffroom.audit_events,
  staffroom.employees, staffroom.credit_ledger, staffroom.billing_customers, staffroom.subscriptions to authenticated;
grant select (id, organization_id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at)
  on staffroom.invitations to authenticated;
grant select (id, organization_id, name, prefix, created_by, created_at, last_used_at, expires_at, revoked_at)
  on staffroom.api_keys to authenticated;
grant select (id, organization_id, employee_id, created_by, created_by_key, status, input, output, error_code, error_message,
  provider, model, input_tokens, output_tokens, cached_input_tokens, cost_credits, reserved_credits, attempts, max_attempts,
  created_at, updated_at, started_at, finished_at, cancel_requested_at)
  on staffroom.tasks to authenticated;
grant select (organization_id, available, updated_at) on staffroom.credit_accounts to authenticated;

grant execute on function
  staffroom.caller_organizations(text, boolean, boolean), staffroom.org_role(uuid, boolean),
  staffroom.shares_organization(uuid),
  staffroom.sync_profile(text),
  staffroom.create_organization(text, text, text, text), staffroom.update_organization(uuid, text, text, text, text),
  staffroom.delete_organization(uuid, text), staffroom.restore_organization(uuid, text),
  staffroom.set_member_role(uuid, uuid, text, text), staffroom.remove_member(uuid, uuid, text),
  staffroom.create_invitation(uuid, text, text, text, text), staffroom.revoke_invitation(uuid, uuid, text),
  staffroom.accept_invitation(text, text),
  staffroom.create_api_key(uuid, text, text, text, timestamptz, text), staffroom.revoke_api_key(uuid, uuid, text),
  staffroom.create_employee(uuid, text, text, text, text, text, text[], integer, text),
  staffroom.update_employee(uuid, uuid, jsonb, text), staffroom.delete_employee(uuid, uuid, text),
  staffroom.restore_employee(uuid, uuid, text),
  staffroom.create_task(uuid, uuid, text, text), staffroom.cancel_task(uuid, uuid)
  to authenticated;

-- The service role is the server acting for no user: webhooks (Stripe is the caller), the task worker,
-- resolving an API key before there is a caller. It reads everything; credits and audit are append-only
-- even for it, and credits move only through move_credits and settle_task.
grant select on all tables in schema staffroom to service_role;
-- The worker moves tasks through their states; what a task is and what it reserved are not its to change.
grant update (status, attempts, run_after, lease_owner, lease_expires_at, started_at, finished_at, updated_at, output,
  error_code, error_message, provider, input_tokens, output_tokens, cached_input_tokens, cost_credits)
  on staffroom.tasks to service_role;
grant insert, update on staffroom.subscriptions to service_role;
grant insert, update (refunded_credits) on staffroom.credit_purchases to service_role;
grant insert on staffroom.billing_customers, staffroom.stripe_events to service_role;
grant update (plan_id, updated_at) on staffroom.organizations to service_role;
grant update (last_used_at) on staffroom.api_keys to service_role;
grant execute on function staffroom.move_credits(uuid, text, bigint, text, uuid, text), staffroom.settle_task(uuid, bigint, text)
  to service_role;
