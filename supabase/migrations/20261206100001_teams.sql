-- Teams: a task run with toolUse `team` hands work to other employees of its organization (`Agent`, or `Task`
-- by its older name) as tasks of their own, its members, and waits for them in `waiting_for_team`; each
-- member's output comes back to it as that call's result. The members of one team (the tasks under one root)
-- share a task board and send each other messages. Everything here is written by the task worker (service_role)
-- through definer functions that check it holds the task's lease; members read the board and the messages
-- (RLS), nobody else writes them.
--
-- A message wakes a task that waits for its team: the worker takes it up again, answers the calls of members
-- still working with that (their results come later, as messages from them), and gives it the message.
--
-- Bounds: depth 2 (a client's task is depth 0, its members 1, theirs 2); 8 members per team over its life;
-- 100 board items and 200 messages per team. A team takes one of the plan's concurrent tasks: its root, counted
-- while it waits; its members take none, so a member can always start and a team never waits for members that
-- cannot. A waiting task holds no worker and no credits; each member reserves and settles its own.
--
-- Lock order, so that a member that finishes, a cancel that cascades down the team and teammates writing to each
-- other never wait for each other in a circle: a member's parent row before the member's own (the worker locks
-- it first when it finishes or records a step of a member; cancel_task and expire_tasks do the same), then the
-- organization's credit account, then the team's advisory lock (its board and messages), then its event counter.
-- Task rows are locked FOR NO KEY UPDATE, never FOR UPDATE: a row that references a task (a member, a message, a
-- transcript entry) takes a KEY SHARE lock on it, which only FOR UPDATE would block.

alter table staffroom.tasks
  add column parent_task_id uuid references staffroom.tasks (id) on delete cascade,
  add column root_task_id uuid references staffroom.tasks (id) on delete cascade,
  add column depth integer not null default 0 check (depth between 0 and 2),
  add column member_name text check (char_length(member_name) between 1 and 100),
  add column parent_tool_call_id text check (char_length(parent_tool_call_id) between 1 and 128),
  add column team_name text check (char_length(team_name) between 1 and 100),
  -- Set when the member's parent went on before it finished (a message woke it): its result then comes to the
  -- parent as a message, the call having been answered that the member was still working.
  add column detached_at timestamptz,
  add constraint tasks_member_check check ((parent_task_id is null) = (root_task_id is null) and (parent_task_id is null) = (depth = 0)
                                           and (parent_task_id is null) = (parent_tool_call_id is null));
create index tasks_parent_task_id_idx on staffroom.tasks (parent_task_id) where parent_task_id is not null;
create index tasks_root_task_id_idx on staffroom.tasks (root_task_id) where root_task_id is not null;
create unique index tasks_member_name_key on staffroom.tasks ((coalesce(root_task_id, id)), member_name) where member_name is not null;

alter table staffroom.tasks drop constraint tasks_status_check;
alter table staffroom.tasks add constraint tasks_status_check
  check (status in ('queued', 'running', 'requires_action', 'waiting_for_team', 'succeeded', 'failed', 'canceled', 'expired'));
alter table staffroom.tasks drop constraint tasks_tool_use_check;
alter table staffroom.tasks add constraint tasks_tool_use_check check (tool_use in ('none', 'client', 'team'));

-- The team tools are built in (the API's catalog, src/services/tools.ts): employees that list them can use them,
-- and no organization defines a tool by one of these names. A tool an organization defined by one of them
-- before is kept, unused: the built-in one runs.
insert into staffroom.built_in_tools (name) values
  ('Agent'), ('TaskCreate'), ('TaskList'), ('TaskGet'), ('TaskUpdate'), ('SendMessage'), ('TeamCreate'), ('TeamDelete');

grant select (parent_task_id, root_task_id, depth, member_name, parent_tool_call_id, team_name) on staffroom.tasks to authenticated;

create table staffroom.team_board_items (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references staffroom.organizations (id) on delete cascade,
  root_task_id uuid not null references staffroom.tasks (id) on delete cascade,
  number integer not null check (number >= 1),
  subject text not null check (char_length(subject) between 1 and 200),
  description text not null check (char_length(description) <= 10000),
  active_form text check (char_length(active_form) <= 200),
  status text not null default 'pending' check (status in ('pending', 'in_progress', 'completed')),
  owner text check (char_length(owner) between 1 and 100),
  blocked_by integer[] not null default '{}' check (cardinality(blocked_by) <= 100),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object' and octet_length(metadata::text) <= 10000),
  created_by_task_id uuid references staffroom.tasks (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (root_task_id, number)
);
create index team_board_items_organization_id_idx on staffroom.team_board_items (organization_id);
create index team_board_items_created_by_task_id_idx on staffroom.team_board_items (created_by_task_id);
alter table staffroom.team_board_items enable row level security;
create policy team_board_items_select on staffroom.team_board_items for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
grant select on staffroom.team_board_items to authenticated, service_role;

create table staffroom.team_messages (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references staffroom.organizations (id) on delete cascade,
  root_task_id uuid not null references staffroom.tasks (id) on delete cascade,
  from_task_id uuid not null references staffroom.tasks (id) on delete cascade,
  from_name text not null,
  to_task_id uuid not null references staffroom.tasks (id) on delete cascade,
  to_name text not null,
  content text not null check (char_length(content) between 1 and 10000),
  summary text check (char_length(summary) <= 200),
  -- The clock, not the transaction's start: two messages a step sends keep the order it sent them in.
  created_at timestamptz not null default clock_timestamp(),
  delivered_at timestamptz
);
create index team_messages_root_idx on staffroom.team_messages (root_task_id, created_at, id);
create index team_messages_organization_id_idx on staffroom.team_messages (organization_id);
create index team_messages_from_task_id_idx on staffroom.team_messages (from_task_id);
create index team_messages_to_task_id_idx on staffroom.team_messages (to_task_id) where delivered_at is null;
alter table staffroom.team_messages enable row level security;
create policy team_messages_select on staffroom.team_messages for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
grant select on staffroom.team_messages to authenticated, service_role;

-- What a task and every task under it were charged so far. Runs as the caller: RLS shows only its own
-- organizations' tasks and transcripts.
create function staffroom.task_tree_cost(p_task uuid) returns bigint
  language sql stable set search_path = pg_catalog, pg_temp
as $$
  with recursive tree (id, level) as (
    select p_task, 0
    union all
    select c.id, t.level + 1 from tree t join staffroom.tasks c on c.parent_task_id = t.id where t.level < 3)
  select coalesce(sum(m.cost_credits), 0)::bigint from tree join staffroom.task_messages m on m.task_id = tree.id
$$;
revoke execute on function staffroom.task_tree_cost(uuid) from public, anon;
grant execute on function staffroom.task_tree_cost(uuid) to authenticated, service_role;

create or replace function staffroom.task_json(t staffroom.tasks) returns jsonb
  language sql stable set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'id', t.id, 'organizationId', t.organization_id, 'employeeId', t.employee_id, 'status', t.status, 'input', t.input,
    'output', t.output,
    'error', case when t.error_code is null then null else jsonb_build_object('code', t.error_code, 'message', t.error_message) end,
    'provider', t.provider, 'model', t.model,
    'usage', case when t.input_tokens is null then null
                  else jsonb_build_object('inputTokens', t.input_tokens, 'outputTokens', t.output_tokens, 'cachedInputTokens', t.cached_input_tokens) end,
    'costCredits', t.cost_credits,
    'reservedCredits', case when t.status in ('queued', 'running') then t.reserved_credits else 0 end,
    'attempts', t.attempts, 'maxAttempts', t.max_attempts, 'toolUse', t.tool_use, 'steps', t.steps, 'maxSteps', t.max_steps,
    'pendingToolCalls', t.pending_tool_calls, 'actionExpiresAt', to_json(t.action_expires_at)#>>'{}',
    'previousTaskId', t.previous_task_id, 'createdAt', to_json(t.created_at)#>>'{}', 'startedAt', to_json(t.started_at)#>>'{}',
    'finishedAt', to_json(t.finished_at)#>>'{}', 'cancelRequestedAt', to_json(t.cancel_requested_at)#>>'{}',
    'parentTaskId', t.parent_task_id, 'rootTaskId', t.root_task_id, 'depth', t.depth, 'memberName', t.member_name,
    'parentToolCallId', t.parent_tool_call_id, 'treeCostCredits', staffroom.task_tree_cost(t.id))
$$;

-- Locks a member's parent before the member itself is locked (see "Lock order" above); nothing for a root.
create function staffroom.lock_task_parent(p_task uuid) returns void
  language sql security definer set search_path = pg_catalog, pg_temp
as $$
  select 1 from staffroom.tasks p where p.id = (select t.parent_task_id from staffroom.tasks t where t.id = p_task) for no key update;
$$;
revoke execute on function staffroom.lock_task_parent(uuid) from public, anon, service_role, authenticated;

-- The rows the end of a team's task may touch, top down (see "Lock order" above): its parent, the task, and its
-- unfinished members below it (which its end cancels). The worker takes them before a step's credits.
create function staffroom.lock_task_rows(p_task uuid) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform staffroom.lock_task_parent(p_task);
  perform 1 from staffroom.tasks where id = p_task for no key update;
  perform 1 from staffroom.tasks where id in (
      with recursive below (id, level) as (
        select c.id, 1 from staffroom.tasks c where c.parent_task_id = p_task and c.finished_at is null
        union all
        select c.id, b.level + 1 from below b join staffroom.tasks c on c.parent_task_id = b.id
        where c.finished_at is null and b.level < 3)
      select id from below)
    order by depth for no key update;
end
$$;
revoke execute on function staffroom.lock_task_rows(uuid) from public, anon, authenticated;
grant execute on function staffroom.lock_task_rows(uuid) to service_role;

-- The team's lock, taken after the credit account and before the event counter (see "Lock order" above): the
-- worker takes it before a step's team tools run and before the step's events.
create function staffroom.lock_team(p_task uuid) returns void
  language sql security definer set search_path = pg_catalog, pg_temp
as $$
  select pg_advisory_xact_lock(hashtextextended('staffroom.team:' || coalesce(t.root_task_id, t.id), 0))
  from staffroom.tasks t where t.id = p_task;
$$;
revoke execute on function staffroom.lock_team(uuid) from public, anon, authenticated;
grant execute on function staffroom.lock_team(uuid) to service_role;

-- The organization's credit account, locked (made first if it has none yet), after a task's rows and before the
-- team's lock (see "Lock order" above); its available credits.
create function staffroom.lock_credit_account(p_org uuid) returns bigint
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_available bigint;
begin
  insert into staffroom.credit_accounts (organization_id) values (p_org) on conflict do nothing;
  select a.available into v_available from staffroom.credit_accounts a where a.organization_id = p_org for update;
  return v_available;
end
$$;
revoke execute on function staffroom.lock_credit_account(uuid) from public, anon, authenticated, service_role;

create or replace function staffroom.cancel_queued_task(p_task uuid, p_description text) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  update staffroom.tasks set status = 'canceled', cancel_requested_at = now(), finished_at = now(), updated_at = now(),
    pending_tool_calls = null, action_expires_at = null
    where id = p_task and status in ('queued', 'requires_action', 'waiting_for_team');
  if found then
    perform staffroom.release_reservation(p_task, p_description);
    perform staffroom.total_task_steps(p_task);
  end if;
end
$$;

create or replace function staffroom.cancel_task(p_org uuid, p_task uuid) returns text
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  t staffroom.tasks%rowtype;
begin
  perform staffroom.require_role(p_org, 'member', 'cancel tasks', false);
  perform staffroom.lock_task_parent(p_task);
  select * into t from staffroom.tasks where organization_id = p_org and id = p_task for no key update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Task not found.');
  end if;
  if t.status in ('queued', 'requires_action', 'waiting_for_team') then
    perform staffroom.cancel_queued_task(t.id, 'Task canceled: reservation released');
    return 'canceled';
  elsif t.status = 'running' then
    update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() where id = t.id;
    return 'requested';
  elsif t.status = 'canceled' then
    return 'unchanged';
  end if;
  perform staffroom.fail('TASK_FINISHED', format('The task has %s; it cannot be canceled.', t.status));
  return null;
end
$$;

create or replace function staffroom.expire_tasks() returns integer
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
  n integer := 0;
begin
  for v_id in select id from staffroom.tasks where status = 'requires_action' and action_expires_at <= now()
              order by action_expires_at limit 100
  loop
    perform staffroom.lock_task_parent(v_id);
    perform 1 from staffroom.tasks where id = v_id and status = 'requires_action' and action_expires_at <= now()
      for no key update skip locked;
    continue when not found;
    update staffroom.tasks set status = 'expired', finished_at = now(), updated_at = now(), pending_tool_calls = null,
      action_expires_at = null, error_code = 'expired',
      error_message = 'No tool outputs came before the deadline; the task ended. Continue it with previousTaskId.'
      where id = v_id;
    perform staffroom.release_reservation(v_id, 'Task expired: reservation released');
    perform staffroom.total_task_steps(v_id);
    n := n + 1;
  end loop;
  return n;
end
$$;

-- Outputs that answer a task's client calls queue it again, unless members it started in the same step still
-- run: then it waits for them.
create or replace function staffroom.submit_tool_outputs(p_org uuid, p_task uuid, p_outputs jsonb) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  t staffroom.tasks%rowtype;
  v_call jsonb;
  v_output jsonb;
  v_ids text[];
  v_details jsonb := '[]';
  i integer;
begin
  perform staffroom.require_role(p_org, 'member', 'run tasks', false);
  select * into t from staffroom.tasks where organization_id = p_org and id = p_task for no key update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Task not found.');
  end if;
  if t.status <> 'requires_action' then
    perform staffroom.fail('TASK_NOT_AWAITING_OUTPUTS', format('The task is %s, not waiting for tool outputs.', t.status));
  end if;
  if t.action_expires_at <= now() then
    perform staffroom.fail('TASK_NOT_AWAITING_OUTPUTS',
      format('The deadline for this task''s tool outputs passed at %s; it has expired.', to_json(t.action_expires_at)#>>'{}'));
  end if;
  if jsonb_typeof(p_outputs) is distinct from 'array' then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.outputs.', '[{"field": "body.outputs", "message": "must be an array"}]');
  end if;
  v_ids := array(select c ->> 'id' from jsonb_array_elements(t.pending_tool_calls) c);
  for i in 0 .. jsonb_array_length(p_outputs) - 1 loop
    v_output := p_outputs -> i;
    if jsonb_typeof(v_output -> 'output') is distinct from 'string' or jsonb_typeof(v_output -> 'toolCallId') is distinct from 'string' then
      v_details := v_details || jsonb_build_object('field', format('body.outputs[%s]', i), 'message', 'must have a string toolCallId and output');
    elsif not (v_output ->> 'toolCallId' = any (v_ids)) then
      v_details := v_details || jsonb_build_object('field', format('body.outputs[%s].toolCallId', i), 'message', 'is not a pending call of this task');
    elsif exists (select 1 from jsonb_array_elements(p_outputs) with ordinality o(v, n)
                  where n - 1 < i and o.v ->> 'toolCallId' = v_output ->> 'toolCallId') then
      v_details := v_details || jsonb_build_object('field', format('body.outputs[%s].toolCallId', i), 'message', 'answers a call answered earlier in this request');
    end if;
  end loop;
  for v_call in select c from jsonb_array_elements(t.pending_tool_calls) c loop
    if not exists (select 1 from jsonb_array_elements(p_outputs) o where o ->> 'toolCallId' = v_call ->> 'id') then
      v_details := v_details || jsonb_build_object('field', 'body.outputs',
        'message', format('has no output for call %s (%s)', v_call ->> 'id', v_call ->> 'name'));
    end if;
  end loop;
  if v_details <> '[]' then
    perform staffroom.fail('VALIDATION_ERROR', 'The outputs do not answer the task''s pending tool calls one for one.', v_details);
  end if;
  for v_call in select c from jsonb_array_elements(t.pending_tool_calls) c loop
    select o into v_output from jsonb_array_elements(p_outputs) o where o ->> 'toolCallId' = v_call ->> 'id';
    perform staffroom.append_task_message(t.id, 'tool', v_output ->> 'output', v_call ->> 'id',
      coalesce((v_output ->> 'isError')::boolean, false));
  end loop;
  if exists (select 1 from staffroom.tasks c where c.parent_task_id = t.id and c.finished_at is null and c.detached_at is null) then
    update staffroom.tasks set status = 'waiting_for_team', pending_tool_calls = null, action_expires_at = null, updated_at = now()
      where id = t.id;
  else
    update staffroom.tasks set status = 'queued', pending_tool_calls = null, action_expires_at = null, attempts = 0,
      run_after = now(), updated_at = now()
      where id = t.id;
  end if;
end
$$;

-- The most a task's first step can cost, in credits: every byte of its instructions and input a token (no
-- tokenizer makes more), 64 for the chat format, and its whole output allowance. A task a client creates and a
-- member a task starts reserve the same.
create function staffroom.task_reservation(p_instructions text, p_input text, p_max_output integer, p_model staffroom.models)
  returns bigint
  language sql immutable set search_path = pg_catalog, pg_temp
as $$
  select ceil(((octet_length(p_instructions) + octet_length(p_input) + 64)::numeric * p_model.input_per_million
               + p_max_output::numeric * p_model.output_per_million) / 100000000)::bigint;
$$;
revoke execute on function staffroom.task_reservation(text, text, integer, staffroom.models) from public, anon, authenticated, service_role;

-- A team is one of the plan's concurrent tasks: only tasks a client created count, a waiting one included.
create or replace function staffroom.create_task(p_org uuid, p_employee uuid, p_input text, p_idempotency_key text,
                                                 p_tool_use text, p_max_steps integer, p_previous_task uuid) returns uuid
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_org staffroom.organizations%rowtype;
  v_employee staffroom.employees%rowtype;
  v_model staffroom.models%rowtype;
  v_previous staffroom.tasks%rowtype;
  -- The options join the hash only when set, so that a key used before they existed still replays.
  v_request_hash text := encode(sha256(convert_to(
    p_employee::text || ':' || coalesce(p_input, '')
      || case when coalesce(p_tool_use, 'none') = 'none' and p_max_steps is null and p_previous_task is null then ''
              else ':' || coalesce(p_tool_use, 'none') || ':' || coalesce(p_max_steps::text, '') || ':' || coalesce(p_previous_task::text, '') end,
    'UTF8')), 'hex');
  v_max_output integer;
  v_reserved bigint;
  v_available bigint;
  v_task uuid;
  v_limit integer;
  v_open integer;
begin
  perform staffroom.require_role(p_org, 'member', 'create tasks', false);
  select * into v_org from staffroom.organizations where id = p_org;
  if p_idempotency_key is not null then
    v_task := staffroom.replay_task(p_org, p_idempotency_key, v_request_hash);
    if v_task is not null then
      return v_task;
    end if;
  end if;
  if coalesce(p_tool_use, 'none') not in ('none', 'client', 'team') then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.toolUse.', '[{"field": "body.toolUse", "message": "must be none, client or team"}]');
  end if;
  if p_max_steps is not null and p_max_steps not between 1 and 100 then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.maxSteps.', '[{"field": "body.maxSteps", "message": "must be from 1 to 100"}]');
  end if;
  select * into v_employee from staffroom.employees e where e.organization_id = p_org and e.id = p_employee and e.deleted_at is null;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.', '[{"field": "body.employeeId", "message": "no such employee"}]');
  end if;
  if p_previous_task is not null then
    select * into v_previous from staffroom.tasks t where t.organization_id = p_org and t.id = p_previous_task;
    if not found then
      perform staffroom.fail('NOT_FOUND', 'Previous task not found.', '[{"field": "body.previousTaskId", "message": "no such task"}]');
    end if;
    if v_previous.employee_id <> v_employee.id then
      perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.previousTaskId: that task belongs to another employee.',
        '[{"field": "body.previousTaskId", "message": "is a task of another employee"}]');
    end if;
    if v_previous.finished_at is null then
      perform staffroom.fail('TASK_NOT_FINISHED', format('The previous task is %s; continue it once it has finished.', v_previous.status),
        '[{"field": "body.previousTaskId", "message": "has not finished"}]');
    end if;
  end if;
  select * into v_model from staffroom.models m where m.id = coalesce(v_employee.model, v_org.default_model);
  if not found then
    perform staffroom.fail('MODEL_RETIRED', format('The employee''s model %s is no longer offered; choose another.', coalesce(v_employee.model, v_org.default_model)));
  end if;
  v_max_output := least(v_employee.max_output_tokens, v_model.max_output_tokens);
  v_reserved := staffroom.task_reservation(v_employee.instructions, p_input, v_max_output, v_model);
  perform staffroom.grant_free_credits_for_this_month(p_org);
  insert into staffroom.credit_accounts (organization_id) values (p_org) on conflict do nothing;
  select a.available into v_available from staffroom.credit_accounts a where a.organization_id = p_org for update;
  -- Under that lock, tasks of the organization are counted one creation at a time: the plan's limit holds.
  -- A task waiting for tool outputs or for its team holds nothing but still counts: it is under way. A team's
  -- members do not count: their root does, for the whole team.
  select p.max_concurrent_tasks into v_limit from staffroom.plans p where p.id = v_org.plan_id;
  select count(*) into v_open from staffroom.tasks t
    where t.organization_id = p_org and t.parent_task_id is null and t.status in ('queued', 'running', 'requires_action', 'waiting_for_team');
  if v_open >= v_limit then
    perform staffroom.fail('TASK_LIMIT_REACHED',
      format('The %s plan runs %s task(s) at a time and %s are under way; retry when one finishes, or upgrade the plan.', v_org.plan_id, v_limit, v_open),
      jsonb_build_array(jsonb_build_object('field', 'limits.concurrentTasks', 'message', format('%s of %s in use', v_open, v_limit))));
  end if;
  if v_available < v_reserved then
    perform staffroom.fail('PAYMENT_REQUIRED', format('This task needs up to %s credits; %s are available.', v_reserved, v_available),
      jsonb_build_array(jsonb_build_object('field', 'credits', 'message', format('available %s, needed %s', v_available, v_reserved))));
  end if;
  insert into staffroom.tasks (organization_id, employee_id, created_by, created_by_key, input, instructions, model,
                               max_output_tokens, reserved_credits, idempotency_key, request_hash,
                               tool_use, tools, max_steps, previous_task_id, member_name)
    values (p_org, v_employee.id, auth.uid(), staffroom.caller_key(), p_input, v_employee.instructions, v_model.id,
            v_max_output, v_reserved, p_idempotency_key, case when p_idempotency_key is not null then v_request_hash end,
            coalesce(p_tool_use, 'none'), case when p_tool_use in ('client', 'team') then v_employee.tools else '{}' end,
            coalesce(p_max_steps, v_employee.max_steps), p_previous_task, case when p_tool_use = 'team' then 'team-lead' end)
    on conflict (organization_id, (coalesce(created_by_key, created_by)), idempotency_key) where idempotency_key is not null do nothing
    returning id into v_task;
  if v_task is null then
    -- A concurrent request with the same key committed first.
    return staffroom.replay_task(p_org, p_idempotency_key, v_request_hash);
  end if;
  perform staffroom.move_credits(p_org, 'reservation', -v_reserved, 'task:' || v_task, v_task, 'Reserved for a task');
  perform staffroom.append_task_message(v_task, 'user', p_input, null, false);
  return v_task;
end
$$;

-- An `Agent` call of a task this worker holds: a member task for the employee whose slug the call names, in the
-- same organization, with its own reservation. Returns {"taskId": ...}, or {"content": ..., "isError": true}
-- (past a limit, no such employee, credits short), which the caller records as the call's result; with
-- `run_in_background`, {"taskId": ..., "background": true, "content": ...}: the call is answered at once.
create function staffroom.start_team_member(p_task uuid, p_worker text, p_tool_call_id text, p_input jsonb) returns jsonb
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  t staffroom.tasks%rowtype;
  v_root uuid;
  v_org staffroom.organizations%rowtype;
  v_employee staffroom.employees%rowtype;
  v_model staffroom.models%rowtype;
  v_slug text := p_input ->> 'subagent_type';
  v_prompt text := p_input ->> 'prompt';
  v_name text;
  v_base text;
  v_members integer;
  v_max_output integer;
  v_reserved bigint;
  v_available bigint;
  v_child uuid;
  n integer := 1;
begin
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for no key update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  v_root := coalesce(t.root_task_id, t.id);
  v_available := staffroom.lock_credit_account(t.organization_id);
  -- Members are counted and named one at a time within a team.
  perform staffroom.lock_team(t.id);
  if t.depth >= 2 then
    return jsonb_build_object('isError', true, 'content',
      'Not started: this task is a member two levels down, and members that deep cannot start members of their own (the depth limit is 2). Do the work yourself.');
  end if;
  select count(*) into v_members from staffroom.tasks where root_task_id = v_root;
  if v_members >= 8 then
    return jsonb_build_object('isError', true, 'content',
      'Not started: this team has had 8 members, its limit. Do the work yourself, or hand it to a member that is still working with SendMessage.');
  end if;
  -- Without subagent_type, the work goes to another task of the same employee (the format's general-purpose agent).
  select * into v_employee from staffroom.employees e
    where e.organization_id = t.organization_id and e.deleted_at is null
      and (case when coalesce(v_slug, '') = '' then e.id = t.employee_id else e.slug = lower(v_slug) end);
  if not found then
    return jsonb_build_object('isError', true, 'content', format(
      'Not started: no employee of this organization has the slug %s. Employees: %s.', coalesce(nullif(v_slug, ''), '(this task''s own, deleted)'),
      coalesce((select string_agg(e.slug, ', ' order by e.slug) from staffroom.employees e
                where e.organization_id = t.organization_id and e.deleted_at is null), 'none')));
  end if;
  select * into v_org from staffroom.organizations where id = t.organization_id;
  select * into v_model from staffroom.models m where m.id = coalesce(v_employee.model, v_org.default_model);
  if not found then
    return jsonb_build_object('isError', true, 'content', format('Not started: the model of %s is no longer offered.', v_employee.slug));
  end if;
  v_max_output := least(v_employee.max_output_tokens, v_model.max_output_tokens);
  v_reserved := staffroom.task_reservation(v_employee.instructions, v_prompt, v_max_output, v_model);
  if v_available < v_reserved then
    return jsonb_build_object('isError', true, 'content', format(
      'Not started: %s needs up to %s credits to start and the organization has %s available.', v_employee.slug, v_reserved, v_available));
  end if;
  v_base := left(lower(regexp_replace(coalesce(nullif(p_input ->> 'name', ''), v_employee.slug), '[^A-Za-z0-9_-]+', '-', 'g')), 90);
  if v_base in ('', 'lead', 'team-lead') then
    v_base := v_employee.slug;
  end if;
  v_name := v_base;
  while exists (select 1 from staffroom.tasks m where coalesce(m.root_task_id, m.id) = v_root and m.member_name = v_name) loop
    n := n + 1;
    v_name := v_base || '-' || n;
  end loop;
  insert into staffroom.tasks (organization_id, employee_id, created_by, created_by_key, input, instructions, model,
                               max_output_tokens, reserved_credits, tool_use, tools, max_steps,
                               parent_task_id, root_task_id, depth, member_name, parent_tool_call_id, detached_at)
    values (t.organization_id, v_employee.id, t.created_by, t.created_by_key, v_prompt, v_employee.instructions, v_model.id,
            v_max_output, v_reserved, 'team', v_employee.tools, v_employee.max_steps,
            t.id, v_root, t.depth + 1, v_name, p_tool_call_id,
            -- run_in_background: the caller goes on at once, and the result comes as the member's message.
            case when p_input -> 'run_in_background' = 'true'::jsonb then now() end)
    returning id into v_child;
  perform staffroom.move_credits(t.organization_id, 'reservation', -v_reserved, 'task:' || v_child, v_child, 'Reserved for a team member');
  perform staffroom.append_task_message(v_child, 'user', v_prompt, null, false);
  perform staffroom.emit_event(t.organization_id, t.id, 'task.subtask_started', jsonb_build_object(
    'taskId', v_child, 'parentTaskId', t.id, 'toolCallId', p_tool_call_id, 'employeeId', v_employee.id,
    'memberName', v_name, 'status', 'queued'));
  if p_input -> 'run_in_background' = 'true'::jsonb then
    return jsonb_build_object('taskId', v_child, 'memberName', v_name, 'background', true, 'content', format(
      'Team member %s (task %s) started in the background; its result will come as a message from %s when it finishes.',
      v_name, v_child, v_name));
  end if;
  return jsonb_build_object('taskId', v_child, 'memberName', v_name);
end
$$;
revoke execute on function staffroom.start_team_member(uuid, text, text, jsonb) from public, anon, authenticated;
grant execute on function staffroom.start_team_member(uuid, text, text, jsonb) to service_role;

-- Parks a task this worker holds until the members it just started have finished.
create function staffroom.await_team(p_task uuid, p_worker text) returns boolean
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  update staffroom.tasks set status = 'waiting_for_team', lease_owner = null, lease_expires_at = null, updated_at = now()
    where id = p_task and status = 'running' and lease_owner = p_worker
      and exists (select 1 from staffroom.tasks c where c.parent_task_id = p_task and c.finished_at is null and c.detached_at is null);
  return found;
end
$$;
revoke execute on function staffroom.await_team(uuid, text) from public, anon, authenticated;
grant execute on function staffroom.await_team(uuid, text) to service_role;

-- When a member finishes, however it finishes: its output (or why it has none) becomes the result of the call
-- that started it, in its parent's transcript; the parent is queued again once its last member is done. When
-- any task of a team finishes, its unfinished members are canceled (a running one is asked to stop).
create function staffroom.team_task_finished() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  p staffroom.tasks%rowtype;
  v_child record;
  v_content text;
begin
  -- Rows first, top down, then the credit account (the order at the top of this file): the parent, whose
  -- transcript takes this task's result, and every unfinished task below this one, which the cascade cancels
  -- (releasing their reservations); the events below take the organization's event counter after both.
  perform staffroom.lock_task_rows(new.id);
  perform staffroom.lock_credit_account(new.organization_id);
  for v_child in select id, status from staffroom.tasks where parent_task_id = new.id and finished_at is null loop
    if v_child.status = 'running' then
      update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() where id = v_child.id;
    else
      perform staffroom.cancel_queued_task(v_child.id, 'Team ended: reservation released');
    end if;
  end loop;
  if new.parent_task_id is null then
    return null;
  end if;
  select * into p from staffroom.tasks where id = new.parent_task_id for no key update;
  v_content := case new.status
    when 'succeeded' then format(E'Result of team member %s (task %s):\n%s', new.member_name, new.id, left(coalesce(new.output, ''), 100000))
    when 'failed' then format('Team member %s (task %s) failed (%s): %s', new.member_name, new.id, new.error_code, new.error_message)
    when 'expired' then format('Team member %s (task %s) expired: no tool outputs came for it in time.', new.member_name, new.id)
    else format('Team member %s (task %s) was canceled before it finished.', new.member_name, new.id) end;
  perform staffroom.emit_event(p.organization_id, p.id, 'task.subtask_finished', jsonb_build_object(
    'taskId', new.id, 'parentTaskId', p.id, 'toolCallId', new.parent_tool_call_id, 'employeeId', new.employee_id,
    'memberName', new.member_name, 'status', new.status,
    -- What its steps were charged: the row's own total is written after this trigger runs.
    'costCredits', (select coalesce(sum(m.cost_credits), 0) from staffroom.task_messages m where m.task_id = new.id)));
  if p.finished_at is not null then
    return null;
  end if;
  if new.detached_at is not null then
    -- Its call was answered when the parent went on without it: the result comes as the member's message (which
    -- wakes the parent, if it waits), cut to a message's length; the whole output stays in the member's task.
    insert into staffroom.team_messages (organization_id, root_task_id, from_task_id, from_name, to_task_id, to_name, content, summary)
      values (p.organization_id, coalesce(p.root_task_id, p.id), new.id, new.member_name, p.id, coalesce(p.member_name, 'team-lead'),
              left(v_content, 10000), left(format('Result of %s', new.member_name), 200));
    return null;
  end if;
  perform staffroom.append_task_message(p.id, 'tool', v_content, new.parent_tool_call_id, new.status <> 'succeeded');
  if p.status = 'waiting_for_team'
     and not exists (select 1 from staffroom.tasks c where c.parent_task_id = p.id and c.finished_at is null and c.detached_at is null) then
    update staffroom.tasks set status = 'queued', attempts = 0, run_after = now(), updated_at = now() where id = p.id;
  end if;
  return null;
end
$$;
revoke execute on function staffroom.team_task_finished() from public, anon, authenticated, service_role;
create trigger tasks_team_finished after update of status on staffroom.tasks
  for each row when (old.finished_at is null and new.finished_at is not null and (new.tool_use = 'team' or new.parent_task_id is not null))
  execute function staffroom.team_task_finished();

-- The team tools other than Agent, for a task this worker holds, inside the transaction that records its step:
-- the board (TaskCreate, TaskList, TaskGet, TaskUpdate), messages (SendMessage) and the team's name (TeamCreate,
-- TeamDelete). The result is recorded as the call's answer and returned: {"content": ..., "isError": ...}.
create function staffroom.run_team_tool(p_task uuid, p_worker text, p_tool_call_id text, p_tool text, p_input jsonb) returns jsonb
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  t staffroom.tasks%rowtype;
  v_root uuid;
  v_item staffroom.team_board_items%rowtype;
  v_number integer;
  v_other integer;
  v_to staffroom.tasks%rowtype;
  v_to_name text;
  v_text text;
  v_content text;
  v_error boolean := false;
  v_count integer;
begin
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for no key update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  v_root := coalesce(t.root_task_id, t.id);
  perform staffroom.lock_credit_account(t.organization_id);
  -- Board items and messages are counted and numbered one at a time within a team.
  perform staffroom.lock_team(t.id);
  -- A call whose input the tool's schema let through but the board's bounds do not (a merged metadata past
  -- 10,000 bytes, too many blockers) is answered as an error, and changes nothing.
  begin
  <<tool>>
  begin
    if p_tool = 'TaskCreate' then
      select count(*), coalesce(max(number), 0) + 1 into v_count, v_number from staffroom.team_board_items where root_task_id = v_root;
      if v_count >= 100 then
        v_content := 'Not created: the team''s board holds 100 tasks, its limit; delete some first.';
        v_error := true;
        exit tool;
      end if;
      insert into staffroom.team_board_items (organization_id, root_task_id, number, subject, description, active_form, metadata, created_by_task_id)
        values (t.organization_id, v_root, v_number, left(p_input ->> 'subject', 200), left(coalesce(p_input ->> 'description', ''), 10000),
                left(p_input ->> 'activeForm', 200),
                case when jsonb_typeof(p_input -> 'metadata') = 'object' then p_input -> 'metadata' else '{}' end, t.id);
      v_content := format('Task #%s created successfully: %s', v_number, left(p_input ->> 'subject', 200));
    elsif p_tool = 'TaskList' then
      select string_agg(format('#%s [%s] %s%s%s', b.number, b.status, b.subject,
                               case when b.owner is not null then format(' (owner: %s)', b.owner) else '' end,
                               case when cardinality(open.blockers) > 0
                                    then format(' [blocked by %s]', (select string_agg('#' || x, ', ') from unnest(open.blockers) x)) else '' end),
                        E'\n' order by b.number)
        into v_content
        from staffroom.team_board_items b
        cross join lateral (select coalesce(array_agg(o.number order by o.number), '{}') as blockers from staffroom.team_board_items o
                            where o.root_task_id = v_root and o.number = any (b.blocked_by) and o.status <> 'completed') open
        where b.root_task_id = v_root;
      v_content := coalesce(v_content, 'No tasks found.');
    elsif p_tool in ('TaskGet', 'TaskUpdate') then
      v_number := case when (p_input ->> 'taskId') ~ '^#?[0-9]{1,9}$' then ltrim(p_input ->> 'taskId', '#')::integer end;
      select * into v_item from staffroom.team_board_items where root_task_id = v_root and number = v_number for no key update;
      if not found then
        v_content := format('Task #%s not found on the team''s board.', coalesce(p_input ->> 'taskId', ''));
        v_error := true;
        exit tool;
      end if;
      if p_tool = 'TaskUpdate' then
        if p_input ->> 'status' = 'deleted' then
          delete from staffroom.team_board_items where id = v_item.id;
          update staffroom.team_board_items set blocked_by = array_remove(blocked_by, v_number), updated_at = now()
            where root_task_id = v_root and v_number = any (blocked_by);
          v_content := format('Task #%s deleted.', v_number);
          exit tool;
        end if;
        for v_other in select ltrim(x, '#')::integer from jsonb_array_elements_text(coalesce(p_input -> 'addBlockedBy', '[]')
                                                                                   || coalesce(p_input -> 'addBlocks', '[]')) x
                        where x ~ '^#?[0-9]{1,9}$' loop
          if v_other = v_number or not exists (select 1 from staffroom.team_board_items where root_task_id = v_root and number = v_other) then
            v_content := format('Not updated: #%s is not another task on the team''s board.', v_other);
            v_error := true;
            exit tool;
          end if;
        end loop;
        update staffroom.team_board_items set
          status = coalesce(p_input ->> 'status', status),
          subject = coalesce(left(p_input ->> 'subject', 200), subject),
          description = coalesce(left(p_input ->> 'description', 10000), description),
          active_form = coalesce(left(p_input ->> 'activeForm', 200), active_form),
          owner = case when p_input ? 'owner' then nullif(left(p_input ->> 'owner', 100), '') else owner end,
          blocked_by = (select coalesce(array_agg(distinct x order by x), '{}') from unnest(blocked_by || array(
                          select ltrim(y, '#')::integer from jsonb_array_elements_text(coalesce(p_input -> 'addBlockedBy', '[]')) y
                          where y ~ '^#?[0-9]{1,9}$')) x),
          metadata = case when jsonb_typeof(p_input -> 'metadata') = 'object'
                          then jsonb_strip_nulls(metadata || (p_input -> 'metadata')) else metadata end,
          updated_at = now()
          where id = v_item.id;
        update staffroom.team_board_items set blocked_by = (select array_agg(distinct x order by x) from unnest(blocked_by || v_number) x),
          updated_at = now()
          where root_task_id = v_root and number in (select ltrim(y, '#')::integer from jsonb_array_elements_text(coalesce(p_input -> 'addBlocks', '[]')) y
                                                     where y ~ '^#?[0-9]{1,9}$');
        v_content := format('Updated task #%s%s', v_number,
          coalesce(' ' || (select string_agg(k, ', ') from jsonb_object_keys(p_input - 'taskId') k), ''));
        exit tool;
      end if;
      v_content := jsonb_pretty(jsonb_build_object('id', v_item.number::text, 'subject', v_item.subject, 'description', v_item.description,
        'status', v_item.status, 'owner', v_item.owner,
        'blockedBy', (select coalesce(jsonb_agg(x::text order by x), '[]') from unnest(v_item.blocked_by) x),
        'blocks', (select coalesce(jsonb_agg(o.number::text order by o.number), '[]') from staffroom.team_board_items o
                   where o.root_task_id = v_root and v_item.number = any (o.blocked_by)),
        'metadata', v_item.metadata));
    elsif p_tool = 'SendMessage' then
      v_to_name := lower(coalesce(p_input ->> 'to', p_input ->> 'recipient', ''));
      v_text := coalesce(p_input ->> 'message', p_input ->> 'content', '');
      if v_to_name in ('lead', 'team-lead') then
        select * into v_to from staffroom.tasks where id = v_root;
      else
        select * into v_to from staffroom.tasks where coalesce(root_task_id, id) = v_root and member_name = v_to_name;
      end if;
      if v_to.id is null then
        v_content := format('Not sent: no member of this team is named %s. Members: %s.', v_to_name,
          (select string_agg(m.member_name, ', ' order by m.depth, m.created_at) from staffroom.tasks m
           where coalesce(m.root_task_id, m.id) = v_root and m.member_name is not null));
        v_error := true;
      elsif v_to.id = t.id then
        v_content := 'Not sent: that is you.';
        v_error := true;
      elsif v_to.finished_at is not null then
        v_content := format('Not sent: %s has %s; its result went to the member that started it.', v_to.member_name, v_to.status);
        v_error := true;
      elsif char_length(v_text) not between 1 and 10000 then
        v_content := 'Not sent: the message must have 1 to 10,000 characters.';
        v_error := true;
      elsif (select count(*) from staffroom.team_messages where root_task_id = v_root) >= 200 then
        v_content := 'Not sent: this team has sent 200 messages, its limit.';
        v_error := true;
      else
        insert into staffroom.team_messages (organization_id, root_task_id, from_task_id, from_name, to_task_id, to_name, content, summary)
          values (t.organization_id, v_root, t.id, coalesce(t.member_name, 'team-lead'), v_to.id, v_to.member_name, v_text,
                  left(p_input ->> 'summary', 200));
        v_content := format('Message sent to %s; it reads it at its next step.', v_to.member_name);
      end if;
    elsif p_tool in ('TeamCreate', 'TeamDelete') then
      if t.parent_task_id is not null then
        v_content := format('Not done: only the team''s lead (task %s) names or ends the team.', v_root);
        v_error := true;
        exit tool;
      end if;
      if p_tool = 'TeamCreate' then
        update staffroom.tasks set team_name = left(p_input ->> 'team_name', 100), updated_at = now() where id = t.id;
        v_content := format('Team %s created; you lead it as team-lead. Start members with the Agent tool.', left(p_input ->> 'team_name', 100));
      else
        v_count := 0;
        for v_to in select * from staffroom.tasks where root_task_id = t.id and finished_at is null order by depth loop
          if v_to.status = 'running' then
            update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() where id = v_to.id;
          else
            perform staffroom.cancel_queued_task(v_to.id, 'Team ended: reservation released');
          end if;
          v_count := v_count + 1;
        end loop;
        update staffroom.tasks set team_name = null, updated_at = now() where id = t.id;
        v_content := format('Team ended; %s unfinished member(s) canceled.', v_count);
      end if;
    else
      v_content := format('%s is not a team tool.', p_tool);
      v_error := true;
    end if;
  end tool;
  exception when check_violation or invalid_text_representation or numeric_value_out_of_range
                 or string_data_right_truncation or not_null_violation then
    v_content := format('Not done: the input of %s is past the bounds of the team''s board or messages.', p_tool);
    v_error := true;
  end;
  perform staffroom.append_task_message(t.id, 'tool', v_content, p_tool_call_id, v_error);
  return jsonb_build_object('content', v_content, 'isError', v_error);
end
$$;
revoke execute on function staffroom.run_team_tool(uuid, text, text, text, jsonb) from public, anon, authenticated;
grant execute on function staffroom.run_team_tool(uuid, text, text, text, jsonb) to service_role;

-- Messages sent to a task this worker holds that it has not read: appended to its transcript as user turns at
-- the start of its step, in the order they were sent. Returns how many.
create function staffroom.deliver_team_messages(p_task uuid, p_worker text) returns integer
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  m staffroom.team_messages%rowtype;
  c staffroom.tasks%rowtype;
  n integer := 0;
begin
  perform 1 from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for no key update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  -- Woken by a message while members still work: their calls are answered so, and their results come later.
  for c in select * from staffroom.tasks where parent_task_id = p_task and finished_at is null and detached_at is null
           order by created_at, id for no key update loop
    perform staffroom.append_task_message(p_task, 'tool', format(
      'Team member %s (task %s) is still working; its result will come as a message from %s when it finishes.',
      c.member_name, c.id, c.member_name), c.parent_tool_call_id, false);
    update staffroom.tasks set detached_at = now() where id = c.id;
  end loop;
  for m in select * from staffroom.team_messages where to_task_id = p_task and delivered_at is null order by created_at, id for update loop
    perform staffroom.append_task_message(p_task, 'user', format(E'Message from %s:\n%s', m.from_name, m.content), null, false);
    update staffroom.team_messages set delivered_at = now() where id = m.id;
    n := n + 1;
  end loop;
  return n;
end
$$;
revoke execute on function staffroom.deliver_team_messages(uuid, text) from public, anon, authenticated;
grant execute on function staffroom.deliver_team_messages(uuid, text) to service_role;

-- Deleting an employee or an organization cancels waiting teams as it cancels queued tasks (their members follow).
create or replace function staffroom.delete_employee(p_org uuid, p_employee uuid, p_request_id text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_canceled integer := 0;
  v_stopped integer := 0;
  v_task uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  update staffroom.employees set deleted_at = now(), updated_at = now()
    where organization_id = p_org and id = p_employee and deleted_at is null;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.');
  end if;
  for v_task in select t.id from staffroom.tasks t
                where t.organization_id = p_org and t.employee_id = p_employee and t.status in ('queued', 'requires_action', 'waiting_for_team') loop
    perform staffroom.cancel_queued_task(v_task, 'Employee deleted: reservation released');
    v_canceled := v_canceled + 1;
  end loop;
  update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
    where organization_id = p_org and employee_id = p_employee and status = 'running';
  get diagnostics v_stopped = row_count;
  perform staffroom.record_audit(p_org, 'employee.deleted', 'employee', p_employee::text, null,
    jsonb_build_object('canceledTasks', v_canceled + v_stopped), p_request_id);
end
$function$;

create or replace function staffroom.delete_organization(p_org uuid, p_request_id text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task uuid;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'delete the organization');
  for v_task in select t.id from staffroom.tasks t where t.organization_id = p_org and t.status in ('queued', 'requires_action', 'waiting_for_team') loop
    perform staffroom.cancel_queued_task(v_task, 'Organization deleted: reservation released');
  end loop;
  update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
    where organization_id = p_org and status = 'running';
  update staffroom.organizations set deleted_at = now(), updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.deleted', 'organization', p_org::text, null, null, p_request_id);
end
$function$;


-- The worker's step functions lock the task FOR NO KEY UPDATE (see "Lock order" above) and the organization's
-- credit account right after it, whether or not the step moves credits.
create or replace function staffroom.hold_task_step(p_task uuid, p_worker text, p_bound bigint) returns bigint
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  t staffroom.tasks%rowtype;
  held bigint;
begin
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for no key update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  held := staffroom.task_held_credits(p_task);
  if p_bound > held then
    perform staffroom.move_credits(t.organization_id, 'reservation', held - p_bound, 'task:' || t.id || ':' || (t.steps + 1),
      t.id, format('Reserved for step %s of a task', t.steps + 1));
    held := staffroom.task_held_credits(p_task);
  end if;
  update staffroom.tasks set reserved_credits = held where id = p_task;
  return held;
end
$$;

create or replace function staffroom.settle_task_step_exact(p_task uuid, p_worker text, p_picodollars bigint, p_description text)
  returns bigint
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  t staffroom.tasks%rowtype;
  v_exact bigint;
  v_before bigint;
  held bigint;
  charged bigint;
begin
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for no key update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  perform staffroom.lock_credit_account(t.organization_id);
  v_exact := t.cost_picodollars + greatest(p_picodollars, 0);
  v_before := coalesce((select sum(m.cost_credits) from staffroom.task_messages m where m.task_id = p_task), 0);
  held := staffroom.release_reservation(p_task, format('Step %s: reservation released', t.steps + 1));
  -- Rounded up once: ceil(exact / 10^8) in integers, less what earlier steps paid; at most what the step held.
  charged := least(greatest((v_exact + 99999999) / 100000000 - v_before, 0), held);
  if charged > 0 then
    perform staffroom.move_credits(t.organization_id, 'usage', -charged, staffroom.task_step_reference(t.id, t.steps + 1), t.id, p_description);
  end if;
  update staffroom.tasks set steps = steps + 1, cost_picodollars = v_exact where id = p_task;
  return charged;
end
$$;

-- A message to a task that waits for its team makes it due (the worker's claim takes such a task up again):
-- the workers hear it on the queued-task channel.
create function staffroom.notify_team_message() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_notify('staffroom_task_queued', '');
  return null;
end
$$;
revoke execute on function staffroom.notify_team_message() from public, anon, authenticated, service_role;
create trigger team_messages_notify after insert on staffroom.team_messages
  for each row execute function staffroom.notify_team_message();
