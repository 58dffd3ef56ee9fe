-- A plan's limits.concurrentTasks: an organization has at most that many tasks queued or running at once; one
-- more is refused with 429 TASK_LIMIT_REACHED. The rest of create_task is as it was.
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
  -- Under that lock, tasks of the organization are counted one creation at a time: the plan's limit holds.
  select p.max_concurrent_tasks into v_limit from staffroom.plans p where p.id = v_org.plan_id;
  select count(*) into v_open from staffroom.tasks t where t.organization_id = p_org and t.status in ('queued', 'running');
  if v_open >= v_limit then
    perform staffroom.fail('TASK_LIMIT_REACHED',
      format('The %s plan runs %s task(s) at a time and %s are queued or running; retry when one finishes, or upgrade the plan.', v_org.plan_id, v_limit, v_open),
      jsonb_build_array(jsonb_build_object('field', 'limits.concurrentTasks', 'message', format('%s of %s in use', v_open, v_limit))));
  end if;
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
