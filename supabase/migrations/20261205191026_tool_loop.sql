-- Tasks that use tools. A task created with tool_use = 'client' offers the model its employee's tools; when the
-- model calls some, the worker parks the task in `requires_action` with the calls, the client runs them and
-- sends the outputs (submit_tool_outputs), and the task is queued again for its next step, up to max_steps
-- model calls. Every step is a model call that holds its own upper bound of credits before it runs
-- (hold_task_step) and pays its exact cost after (settle_task_step); nothing is held while the task waits for
-- the client. The transcript (task_messages) is the conversation: the input, each step's text and tool calls
-- with its usage and cost, and each tool's output.

-- 1. Employees: how many model calls one of their tasks makes, unless the task says.
alter table staffroom.employees add column max_steps integer not null default 20 check (max_steps between 1 and 100);

create or replace function staffroom.employee_audit_view(e staffroom.employees) returns jsonb
  language sql immutable set search_path = ''
as $$
  select jsonb_build_object('name', e.name, 'slug', e.slug, 'description', e.description,
    'instructions', char_length(e.instructions) || ' characters', 'model', e.model, 'tools', to_jsonb(e.tools),
    'maxOutputTokens', e.max_output_tokens, 'maxSteps', e.max_steps)
$$;

drop function staffroom.create_employee(uuid, text, text, text, text, text, text[], integer, text);
create function staffroom.create_employee(
  p_org uuid, p_name text, p_slug text, p_description text, p_instructions text, p_model text, p_tools text[],
  p_max_output_tokens integer, p_max_steps integer, p_request_id text
) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_employee uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  perform staffroom.check_model(p_model, 'body.model');
  perform staffroom.check_employee_limit(p_org);
  insert into staffroom.employees (organization_id, name, slug, description, instructions, model, tools, max_output_tokens, max_steps)
    values (p_org, p_name, p_slug, coalesce(p_description, ''), p_instructions, p_model,
            staffroom.distinct_in_order(coalesce(p_tools, '{}')), coalesce(p_max_output_tokens, 4096), coalesce(p_max_steps, 20))
    returning id into v_employee;
  perform staffroom.record_audit(p_org, 'employee.created', 'employee', v_employee::text, null,
    jsonb_build_object('name', p_name, 'slug', p_slug, 'model', p_model), p_request_id);
  return v_employee;
end
$$;
revoke execute on function staffroom.create_employee(uuid, text, text, text, text, text, text[], integer, integer, text) from public, anon;
grant execute on function staffroom.create_employee(uuid, text, text, text, text, text, text[], integer, integer, text) to authenticated;

-- update_employee takes `maxSteps` too (audited); the rest is as it was.
create or replace function staffroom.update_employee(p_org uuid, p_employee uuid, p_patch jsonb, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  before staffroom.employees%rowtype;
  after staffroom.employees%rowtype;
  b jsonb := '{}';
  a jsonb := '{}';
  k text;
  v_column text;
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
      max_steps = case when p_patch ? 'maxSteps' then (p_patch ->> 'maxSteps')::integer else max_steps end,
      front_matter = case when p_patch ? 'frontMatter' then coalesce(p_patch -> 'frontMatter', '{}') else front_matter end,
      updated_at = now()
    where id = p_employee
    returning * into after;
  for k in select jsonb_object_keys(p_patch) loop
    v_column := case k when 'maxOutputTokens' then 'max_output_tokens' when 'maxSteps' then 'max_steps' else k end;
    if k in ('name', 'slug', 'description', 'instructions', 'model', 'tools', 'maxOutputTokens', 'maxSteps')
       and to_jsonb(before) -> v_column is distinct from to_jsonb(after) -> v_column then
      b := b || jsonb_build_object(k, staffroom.employee_audit_view(before) -> k);
      a := a || jsonb_build_object(k, staffroom.employee_audit_view(after) -> k);
    end if;
  end loop;
  if a <> '{}' then
    perform staffroom.record_audit(p_org, 'employee.updated', 'employee', p_employee::text, b, a, p_request_id);
  end if;
end
$$;

-- 2. Tools an organization defines (MCP tools and its own): what the model is told and the schema its calls
-- are checked against. Built-in tools are the API's catalog; a definition never replaces one of those.
create table staffroom.tools (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references staffroom.organizations (id) on delete cascade,
  name text not null check (name ~ '^[A-Za-z][A-Za-z0-9_-]*$' and char_length(name) <= 64),
  description text not null check (char_length(description) between 1 and 2000),
  input_schema jsonb not null check (jsonb_typeof(input_schema) = 'object' and octet_length(input_schema::text) <= 16384),
  writes boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (organization_id, name)
);
alter table staffroom.tools enable row level security;
create policy tools_select on staffroom.tools for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
revoke all on staffroom.tools from anon, authenticated, service_role;
grant select on staffroom.tools to authenticated, service_role;

-- The names of the built-in tools (the API's catalog, src/services/tools.ts; a test keeps the two equal):
-- employees read which of their tools are usable, and no organization defines a tool by one of these names.
create table staffroom.built_in_tools (name text primary key);
insert into staffroom.built_in_tools (name) values
  ('Read'), ('Write'), ('Edit'), ('MultiEdit'), ('Glob'), ('Grep'), ('LS'), ('Bash'), ('WebFetch'), ('WebSearch'),
  ('TodoWrite'), ('NotebookEdit'), ('Task');
alter table staffroom.built_in_tools enable row level security;
create policy built_in_tools_select on staffroom.built_in_tools for select to authenticated using (true);
revoke all on staffroom.built_in_tools from anon, authenticated, service_role;
grant select on staffroom.built_in_tools to authenticated, service_role;

-- Defines a tool or replaces its definition (admins and API keys); true when it was new. The API checks the
-- schema compiles and the name is not a built-in's; the database holds the shape and the limit.
create function staffroom.put_tool(
  p_org uuid, p_name text, p_description text, p_input_schema jsonb, p_writes boolean, p_request_id text
) returns boolean
  language plpgsql security definer set search_path = ''
as $$
declare
  before staffroom.tools%rowtype;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage tools', false);
  if p_name is null or p_name !~ '^[A-Za-z][A-Za-z0-9_-]*$' or char_length(p_name) > 64 then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid path.toolName.',
      '[{"field": "path.toolName", "message": "must be a letter, then letters, digits, _ or -, up to 64"}]');
  end if;
  if jsonb_typeof(p_input_schema) is distinct from 'object' or octet_length(p_input_schema::text) > 16384 then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.inputSchema: it must be a JSON object of at most 16 KiB.',
      '[{"field": "body.inputSchema", "message": "must be a JSON object of at most 16 KiB"}]');
  end if;
  if exists (select 1 from staffroom.built_in_tools b where lower(b.name) = lower(p_name)) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid path.toolName: %s is a built-in tool.', p_name),
      '[{"field": "path.toolName", "message": "is the name of a built-in tool"}]');
  end if;
  perform 1 from staffroom.organizations where id = p_org for update;
  select * into before from staffroom.tools where organization_id = p_org and name = p_name;
  if not found and (select count(*) from staffroom.tools where organization_id = p_org) >= 200 then
    perform staffroom.fail('PLAN_LIMIT_REACHED', 'An organization defines at most 200 tools; delete one first.');
  end if;
  insert into staffroom.tools as t (organization_id, name, description, input_schema, writes)
    values (p_org, p_name, p_description, p_input_schema, coalesce(p_writes, true))
    on conflict (organization_id, name) do update
      set description = excluded.description, input_schema = excluded.input_schema, writes = excluded.writes, updated_at = now();
  perform staffroom.record_audit(p_org, case when before.id is null then 'organization.tool_defined' else 'organization.tool_updated' end,
    'organization', p_org::text,
    case when before.id is null then null else jsonb_build_object('tool', p_name, 'description', before.description, 'writes', before.writes) end,
    jsonb_build_object('tool', p_name, 'description', p_description, 'writes', coalesce(p_writes, true)), p_request_id);
  return before.id is null;
end
$$;
revoke execute on function staffroom.put_tool(uuid, text, text, jsonb, boolean, text) from public, anon;
grant execute on function staffroom.put_tool(uuid, text, text, jsonb, boolean, text) to authenticated;

create function staffroom.delete_tool(p_org uuid, p_name text, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
begin
  perform staffroom.require_role(p_org, 'admin', 'manage tools', false);
  delete from staffroom.tools where organization_id = p_org and name = p_name;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Tool not found.', '[{"field": "path.toolName", "message": "no tool of this organization has this name"}]');
  end if;
  perform staffroom.record_audit(p_org, 'organization.tool_deleted', 'organization', p_org::text,
    jsonb_build_object('tool', p_name), null, p_request_id);
end
$$;
revoke execute on function staffroom.delete_tool(uuid, text, text) from public, anon;
grant execute on function staffroom.delete_tool(uuid, text, text) to authenticated;

-- 3. Tasks: the loop's state.
alter table staffroom.tasks
  add column tool_use text not null default 'none' check (tool_use in ('none', 'client')),
  -- The employee's tool names when the task was created: editing the employee does not change a task.
  add column tools text[] not null default '{}',
  add column max_steps integer not null default 20 check (max_steps between 1 and 100),
  add column steps integer not null default 0 check (steps >= 0),
  add column pending_tool_calls jsonb check (pending_tool_calls is null or jsonb_typeof(pending_tool_calls) = 'array'),
  add column action_expires_at timestamptz,
  add column previous_task_id uuid references staffroom.tasks (id) on delete set null;
create index tasks_previous_task_id_idx on staffroom.tasks (previous_task_id);
create index tasks_awaiting_idx on staffroom.tasks (action_expires_at) where status = 'requires_action';
-- Tasks that ran before steps were counted made one model call when they have usage.
update staffroom.tasks set steps = 1 where input_tokens is not null;

do $$
declare
  c record;
begin
  for c in select conname from pg_constraint
           where conrelid = 'staffroom.tasks'::regclass and contype = 'c'
             and (pg_get_constraintdef(oid) like '%finished_at%' or pg_get_constraintdef(oid) like '%''queued''%')
  loop
    execute format('alter table staffroom.tasks drop constraint %I', c.conname);
  end loop;
end
$$;
alter table staffroom.tasks
  add constraint tasks_status_check check (status in ('queued', 'running', 'requires_action', 'succeeded', 'failed', 'canceled', 'expired')),
  add constraint tasks_finished_check check ((status in ('succeeded', 'failed', 'canceled', 'expired')) = (finished_at is not null)),
  add constraint tasks_awaiting_check check ((status = 'requires_action') = (pending_tool_calls is not null and action_expires_at is not null));

grant select (tool_use, tools, max_steps, steps, pending_tool_calls, action_expires_at, previous_task_id) on staffroom.tasks to authenticated;
grant update (pending_tool_calls, action_expires_at) on staffroom.tasks to service_role;

-- 4. The transcript. Members read it (RLS); create_task writes the input, submit_tool_outputs the outputs,
-- and the worker each step (its text, calls, usage and cost, and its answers to calls it refused).
create table staffroom.task_messages (
  id uuid primary key default gen_random_uuid(),
  task_id uuid not null references staffroom.tasks (id) on delete cascade,
  organization_id uuid not null references staffroom.organizations (id) on delete cascade,
  index integer not null check (index >= 0),
  role text not null check (role in ('user', 'assistant', 'tool')),
  content text not null check (octet_length(content) <= 1048576),
  tool_calls jsonb not null default '[]' check (jsonb_typeof(tool_calls) = 'array'),
  tool_call_id text,
  is_error boolean not null default false,
  step integer check (step >= 1),
  input_tokens integer check (input_tokens >= 0),
  output_tokens integer check (output_tokens >= 0),
  cached_input_tokens integer check (cached_input_tokens >= 0),
  cost_credits bigint check (cost_credits >= 0),
  created_at timestamptz not null default now(),
  unique (task_id, index),
  check ((role = 'tool') = (tool_call_id is not null)),
  check ((role = 'assistant') = (step is not null))
);
create index task_messages_organization_id_idx on staffroom.task_messages (organization_id);
alter table staffroom.task_messages enable row level security;
create policy task_messages_select on staffroom.task_messages for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
revoke all on staffroom.task_messages from anon, authenticated, service_role;
grant select on staffroom.task_messages to authenticated;
grant select, insert on staffroom.task_messages to service_role;

-- Appends one entry at the end of a task's transcript.
create function staffroom.append_task_message(
  p_task uuid, p_role text, p_content text, p_tool_call_id text, p_is_error boolean
) returns void
  language sql security definer set search_path = ''
as $$
  insert into staffroom.task_messages (task_id, organization_id, index, role, content, tool_call_id, is_error)
  select t.id, t.organization_id,
         coalesce((select max(m.index) + 1 from staffroom.task_messages m where m.task_id = t.id), 0),
         p_role, p_content, p_tool_call_id, coalesce(p_is_error, false)
  from staffroom.tasks t where t.id = p_task
$$;

-- 5. Credits per step. What a task holds is read from the ledger (its reservations less its releases), never
-- from a column anyone else writes; reserved_credits follows it for display. Step n of a task reserves and
-- settles under the reference `task:<id>` for n = 1 (as tasks always did) and `task:<id>:<n>` after.
create function staffroom.task_held_credits(p_task uuid) returns bigint
  language sql stable security definer set search_path = ''
as $$
  select coalesce(-sum(l.amount), 0)::bigint from staffroom.credit_ledger l
  where l.task_id = p_task and l.kind in ('reservation', 'release')
$$;

create function staffroom.task_step_reference(p_task uuid, p_step integer) returns text
  language sql immutable set search_path = ''
as $$
  select 'task:' || p_task || case when p_step > 1 then ':' || p_step else '' end
$$;

-- Gives back what a task holds, as the release of its current step.
create or replace function staffroom.release_reservation(p_task uuid, p_description text) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  t staffroom.tasks%rowtype;
  held bigint;
begin
  select * into t from staffroom.tasks where id = p_task;
  held := staffroom.task_held_credits(p_task);
  if held > 0 then
    perform staffroom.move_credits(t.organization_id, 'release', held, staffroom.task_step_reference(t.id, t.steps + 1), t.id, p_description);
  end if;
  update staffroom.tasks set reserved_credits = 0 where id = p_task and reserved_credits <> 0;
  return greatest(held, 0);
end
$$;

-- The worker, before a step's model call: holds at least the step's upper bound (the first step's was
-- reserved when the task was created; a longer prompt tops it up). Raises insufficient_credits when the
-- balance is short, and holds nothing more then.
create function staffroom.hold_task_step(p_task uuid, p_worker text, p_bound bigint) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  t staffroom.tasks%rowtype;
  held bigint;
begin
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for update;
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

-- The worker, after a step's model call: releases what the step held and charges its cost, at most that;
-- the step is counted. Returns the credits charged.
create function staffroom.settle_task_step(p_task uuid, p_worker text, p_cost bigint, p_description text) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  t staffroom.tasks%rowtype;
  held bigint;
  charged bigint;
begin
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  held := staffroom.release_reservation(p_task, format('Step %s: reservation released', t.steps + 1));
  charged := least(greatest(p_cost, 0), held);
  if charged > 0 then
    perform staffroom.move_credits(t.organization_id, 'usage', -charged, staffroom.task_step_reference(t.id, t.steps + 1), t.id, p_description);
  end if;
  update staffroom.tasks set steps = steps + 1 where id = p_task;
  return charged;
end
$$;

-- The task's usage and cost are the sums of its steps.
create function staffroom.total_task_steps(p_task uuid) returns void
  language sql security definer set search_path = ''
as $$
  update staffroom.tasks t set
    input_tokens = s.input_tokens, output_tokens = s.output_tokens, cached_input_tokens = s.cached_input_tokens,
    cost_credits = coalesce(s.cost, 0)
  from (select sum(m.input_tokens)::integer as input_tokens, sum(m.output_tokens)::integer as output_tokens,
               sum(m.cached_input_tokens)::integer as cached_input_tokens, sum(m.cost_credits) as cost
        from staffroom.task_messages m where m.task_id = p_task and m.role = 'assistant') s
  where t.id = p_task
$$;

-- Tasks left in requires_action past their deadline end `expired`; they hold nothing, and what they paid
-- for their steps stays paid. Returns how many expired.
create function staffroom.expire_tasks() returns integer
  language plpgsql security definer set search_path = ''
as $$
declare
  t record;
  n integer := 0;
begin
  for t in select id from staffroom.tasks where status = 'requires_action' and action_expires_at <= now()
           order by action_expires_at limit 100 for update skip locked
  loop
    update staffroom.tasks set status = 'expired', finished_at = now(), updated_at = now(), pending_tool_calls = null,
      action_expires_at = null, error_code = 'expired',
      error_message = 'No tool outputs came before the deadline; the task ended. Continue it with previousTaskId.'
      where id = t.id;
    perform staffroom.release_reservation(t.id, 'Task expired: reservation released');
    perform staffroom.total_task_steps(t.id);
    n := n + 1;
  end loop;
  return n;
end
$$;

-- 6. What users do.

-- create_task takes the loop's options; the input is the transcript's first entry. A continuation names a
-- finished task of the same employee. The reservation is the first step's bound as before.
drop function staffroom.create_task(uuid, uuid, text, text);
create function staffroom.create_task(
  p_org uuid, p_employee uuid, p_input text, p_idempotency_key text, p_tool_use text, p_max_steps integer, p_previous_task uuid
) returns uuid
  language plpgsql security definer set search_path = ''
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
  if coalesce(p_tool_use, 'none') not in ('none', 'client') then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.toolUse.', '[{"field": "body.toolUse", "message": "must be none or client"}]');
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
  v_reserved := ceil(((octet_length(v_employee.instructions) + octet_length(p_input) + 64)::numeric * v_model.input_per_million
                      + v_max_output::numeric * v_model.output_per_million) / 100000000)::bigint;
  perform staffroom.grant_free_credits_for_this_month(p_org);
  insert into staffroom.credit_accounts (organization_id) values (p_org) on conflict do nothing;
  select a.available into v_available from staffroom.credit_accounts a where a.organization_id = p_org for update;
  -- Under that lock, tasks of the organization are counted one creation at a time: the plan's limit holds.
  -- A task waiting for tool outputs holds nothing but still counts: it is under way.
  select p.max_concurrent_tasks into v_limit from staffroom.plans p where p.id = v_org.plan_id;
  select count(*) into v_open from staffroom.tasks t where t.organization_id = p_org and t.status in ('queued', 'running', 'requires_action');
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
                               tool_use, tools, max_steps, previous_task_id)
    values (p_org, v_employee.id, auth.uid(), staffroom.caller_key(), p_input, v_employee.instructions, v_model.id,
            v_max_output, v_reserved, p_idempotency_key, case when p_idempotency_key is not null then v_request_hash end,
            coalesce(p_tool_use, 'none'), case when p_tool_use = 'client' then v_employee.tools else '{}' end,
            coalesce(p_max_steps, v_employee.max_steps), p_previous_task)
    on conflict (organization_id, idempotency_key) where idempotency_key is not null do nothing
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
revoke execute on function staffroom.create_task(uuid, uuid, text, text, text, integer, uuid) from public, anon;
grant execute on function staffroom.create_task(uuid, uuid, text, text, text, integer, uuid) to authenticated;

-- Outputs for every pending call of a task in requires_action, in one go: they join the transcript in the
-- order of the calls and the task is queued for its next step.
create function staffroom.submit_tool_outputs(p_org uuid, p_task uuid, p_outputs jsonb) returns void
  language plpgsql security definer set search_path = ''
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
  select * into t from staffroom.tasks where organization_id = p_org and id = p_task for update;
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
  update staffroom.tasks set status = 'queued', pending_tool_calls = null, action_expires_at = null, attempts = 0,
    run_after = now(), updated_at = now()
    where id = t.id;
end
$$;
revoke execute on function staffroom.submit_tool_outputs(uuid, uuid, jsonb) from public, anon;
grant execute on function staffroom.submit_tool_outputs(uuid, uuid, jsonb) to authenticated;

-- Cancel works in every state: a task waiting for tool outputs is canceled at once like a queued one.
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
  if t.status in ('queued', 'requires_action') then
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

-- A queued task of a deleted organization or employee ends as before; one waiting for tool outputs too.
create or replace function staffroom.cancel_queued_task(p_task uuid, p_description text) returns void
  language plpgsql security definer set search_path = ''
as $$
begin
  update staffroom.tasks set status = 'canceled', cancel_requested_at = now(), finished_at = now(), updated_at = now(),
    pending_tool_calls = null, action_expires_at = null
    where id = p_task and status in ('queued', 'requires_action');
  if found then
    perform staffroom.release_reservation(p_task, p_description);
    perform staffroom.total_task_steps(p_task);
  end if;
end
$$;

revoke execute on function staffroom.hold_task_step(uuid, text, bigint) from public, anon, authenticated;
grant execute on function staffroom.hold_task_step(uuid, text, bigint) to service_role;
revoke execute on function staffroom.settle_task_step(uuid, text, bigint, text) from public, anon, authenticated;
grant execute on function staffroom.settle_task_step(uuid, text, bigint, text) to service_role;
revoke execute on function staffroom.expire_tasks() from public, anon, authenticated;
grant execute on function staffroom.expire_tasks() to service_role;
revoke execute on function staffroom.total_task_steps(uuid) from public, anon, authenticated;
grant execute on function staffroom.total_task_steps(uuid) to service_role;
revoke execute on function staffroom.append_task_message(uuid, text, text, text, boolean) from public, anon, authenticated;
revoke execute on function staffroom.task_held_credits(uuid) from public, anon, authenticated;
revoke execute on function staffroom.task_step_reference(uuid, integer) from public, anon, authenticated;

-- Deleting an employee or an organization cancels its tasks that wait for tool outputs, like its queued ones:
-- nobody could send those outputs any more. The rest is as it was.
create or replace function staffroom.delete_employee(p_org uuid, p_employee uuid, p_request_id text) returns void
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
  for v_task in select t.id from staffroom.tasks t
                where t.organization_id = p_org and t.employee_id = p_employee and t.status in ('queued', 'requires_action') loop
    perform staffroom.cancel_queued_task(v_task, 'Employee deleted: reservation released');
    v_canceled := v_canceled + 1;
  end loop;
  perform staffroom.record_audit(p_org, 'employee.deleted', 'employee', p_employee::text, null,
    jsonb_build_object('canceledTasks', v_canceled), p_request_id);
end
$$;

create or replace function staffroom.delete_organization(p_org uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_task uuid;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'delete the organization');
  for v_task in select t.id from staffroom.tasks t where t.organization_id = p_org and t.status in ('queued', 'requires_action') loop
    perform staffroom.cancel_queued_task(v_task, 'Organization deleted: reservation released');
  end loop;
  update staffroom.organizations set deleted_at = now(), updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.deleted', 'organization', p_org::text, null, null, p_request_id);
end
$$;
