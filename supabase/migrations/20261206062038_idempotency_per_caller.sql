-- Idempotency keys belong to the caller that sent them, as the API's own idempotency_keys table already has
-- them: a task's Idempotency-Key was unique per organization, so another member (or API key) reusing it got
-- the first caller's task back, or a 409 saying the key was taken. Now it is unique per organization and
-- caller (the user, or the API key, that created the task), and a replay looks only among the caller's own
-- tasks; the same key from another caller is a request of its own. Rows already kept name their caller.
-- Both functions keep their signatures, so their grants (create_task's; replay_task has none).
drop index staffroom.tasks_idempotency_key;
create unique index tasks_idempotency_key on staffroom.tasks (organization_id, (coalesce(created_by_key, created_by)), idempotency_key)
  where idempotency_key is not null;

-- The caller's own task with that key, or null; 409 when the caller used the key with another request.
create or replace function staffroom.replay_task(p_org uuid, p_idempotency_key text, p_request_hash text) returns uuid
  language plpgsql stable security definer set search_path = pg_catalog, pg_temp
as $$
declare
  earlier record;
begin
  select t.id, t.request_hash into earlier from staffroom.tasks t
  where t.organization_id = p_org and coalesce(t.created_by_key, t.created_by) = coalesce(staffroom.caller_key(), auth.uid())
    and t.idempotency_key = p_idempotency_key;
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

-- create_task as it was, but for the conflict target of its insert: the key is unique per caller.
create or replace function staffroom.create_task(
  p_org uuid, p_employee uuid, p_input text, p_idempotency_key text, p_tool_use text, p_max_steps integer, p_previous_task uuid
) returns uuid
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
