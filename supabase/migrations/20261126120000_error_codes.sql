-- Finer error codes: the functions below fail with a code per cause a client must tell apart instead of
-- CONFLICT (or FORBIDDEN) for all of them (see ErrorCode in api/openapi.yaml and src/kernel/errors.ts). Each is
-- its latest definition (20261126090000_private_schema.sql) with only the code changed; the same signatures,
-- so owners and grants stay, and the same security definer and empty search_path.
-- Unchanged on purpose: keep_api_key_revoked and keep_invitation_final keep CONFLICT. They guard invariants
-- that no API path reaches (the functions check first, under a lock), so no client has a cause to act on.

-- The last owner: LAST_OWNER (was CONFLICT).
create or replace function staffroom.keep_an_owner() returns trigger
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
    perform staffroom.fail('LAST_OWNER', 'An organization must keep at least one owner: make someone else owner first.');
  end if;
  return coalesce(new, old);
end
$$;

-- Restoring a live organization: NOT_DELETED (was CONFLICT).
create or replace function staffroom.restore_organization(p_org uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_deleted timestamptz;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'restore the organization', true, true);
  select o.deleted_at into v_deleted from staffroom.organizations o where o.id = p_org;
  if v_deleted is null then
    perform staffroom.fail('NOT_DELETED', 'The organization is not deleted.');
  end if;
  if v_deleted < now() - interval '30 days' then
    perform staffroom.fail('NOT_FOUND', 'Organization not found.');
  end if;
  update staffroom.organizations set deleted_at = null, updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.restored', 'organization', p_org::text, null, null, p_request_id);
end
$$;

-- The plan's member limit: PLAN_LIMIT_REACHED (was CONFLICT).
create or replace function staffroom.check_member_limit(p_org uuid, p_counting_pending boolean) returns void
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
    perform staffroom.fail('PLAN_LIMIT_REACHED', format('The %s plan allows %s members%s; remove someone or upgrade the plan.', v_plan.id,
      v_plan.max_members, case when p_counting_pending then ', pending invitations included' else '' end));
  end if;
end
$$;

-- Inviting a member: ALREADY_MEMBER (was CONFLICT).
create or replace function staffroom.create_invitation(p_org uuid, p_email text, p_role text, p_token_hash text, p_request_id text) returns uuid
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
    perform staffroom.fail('ALREADY_MEMBER', format('%s is already a member.', v_email), '[{"field": "body.email", "message": "already a member"}]');
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

-- Revoking an invitation that is not pending: INVITATION_NOT_PENDING (was CONFLICT).
create or replace function staffroom.revoke_invitation(p_org uuid, p_invitation uuid, p_request_id text) returns void
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
    perform staffroom.fail('INVITATION_NOT_PENDING', format('The invitation is %s, not pending.',
      case when inv.accepted_at is not null then 'accepted' when inv.revoked_at is not null then 'revoked' else 'expired' end));
  end if;
  update staffroom.invitations set revoked_at = now() where id = inv.id;
  perform staffroom.record_audit(p_org, 'invitation.revoked', 'invitation', inv.id::text,
    jsonb_build_object('email', inv.email, 'role', inv.role), null, p_request_id);
end
$$;

-- Another address: INVITATION_EMAIL_MISMATCH (was FORBIDDEN); accepted already: INVITATION_NOT_PENDING,
-- already a member: ALREADY_MEMBER (both were CONFLICT).
create or replace function staffroom.accept_invitation(p_token_hash text, p_request_id text) returns uuid
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
    perform staffroom.fail('INVITATION_EMAIL_MISMATCH', 'This invitation was sent to another email address.');
  end if;
  if inv.accepted_at is not null then
    perform staffroom.fail('INVITATION_NOT_PENDING', 'This invitation has already been accepted.');
  end if;
  if exists (select 1 from staffroom.memberships m where m.organization_id = inv.organization_id and m.user_id = v_user) then
    perform staffroom.fail('ALREADY_MEMBER', 'You are already a member of this organization.');
  end if;
  perform staffroom.check_member_limit(inv.organization_id, false);
  insert into staffroom.memberships (organization_id, user_id, role) values (inv.organization_id, v_user, inv.role);
  update staffroom.invitations set accepted_at = now(), accepted_by = v_user where id = inv.id;
  perform staffroom.record_audit(inv.organization_id, 'invitation.accepted', 'invitation', inv.id::text, null,
    jsonb_build_object('role', inv.role, 'email', inv.email), p_request_id);
  return inv.organization_id;
end
$$;

-- The plan's employee limit: PLAN_LIMIT_REACHED (was CONFLICT).
create or replace function staffroom.check_employee_limit(p_org uuid) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_plan staffroom.plans%rowtype;
begin
  perform pg_advisory_xact_lock(hashtext('employees:' || p_org));
  select p.* into v_plan from staffroom.plans p join staffroom.organizations o on o.plan_id = p.id where o.id = p_org;
  if (select count(*) from staffroom.employees e where e.organization_id = p_org and e.deleted_at is null) >= v_plan.max_employees then
    perform staffroom.fail('PLAN_LIMIT_REACHED', format('The %s plan allows %s employees; delete one or upgrade the plan.', v_plan.id, v_plan.max_employees));
  end if;
end
$$;

-- Restoring a live employee: NOT_DELETED (was CONFLICT).
create or replace function staffroom.restore_employee(p_org uuid, p_employee uuid, p_request_id text) returns void
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
    perform staffroom.fail('NOT_DELETED', 'The employee is not deleted.');
  end if;
  perform staffroom.check_employee_limit(p_org);
  update staffroom.employees set deleted_at = null, updated_at = now() where id = p_employee;
  perform staffroom.record_audit(p_org, 'employee.restored', 'employee', p_employee::text, null, null, p_request_id);
end
$$;

-- A model no longer offered: MODEL_RETIRED (was CONFLICT).
create or replace function staffroom.create_task(p_org uuid, p_employee uuid, p_input text, p_idempotency_key text) returns uuid
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
    perform staffroom.fail('MODEL_RETIRED', format('The employee''s model %s is no longer offered; choose another.', coalesce(v_employee.model, v_org.default_model)));
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

-- Canceling a finished task: TASK_FINISHED (was CONFLICT).
create or replace function staffroom.cancel_task(p_org uuid, p_task uuid) returns text
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
  perform staffroom.fail('TASK_FINISHED', 'The task has finished; it cannot be canceled.');
  return null;
end
$$;
