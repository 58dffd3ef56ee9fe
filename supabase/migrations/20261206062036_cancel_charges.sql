-- A cancel request stops a running task's model call within a second, and the step is paid for what it consumed
-- (the worker records it through settle_task_step as any step). Workers that listen hear that some running task
-- was asked to stop on the channel `staffroom_task_cancel_requested` when the request commits, and ask the
-- database which of theirs; the others ask while a call runs. The notice carries no payload: any session may
-- LISTEN, so it names no task. Deleting an employee or an organization now stops its running tasks the same
-- way, instead of letting them finish their step.

create function staffroom.notify_task_cancel_requested() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_notify('staffroom_task_cancel_requested', '');
  return null;
end
$$;

create trigger tasks_notify_cancel_requested after update of cancel_requested_at on staffroom.tasks
  for each row when (new.status = 'running' and old.cancel_requested_at is null and new.cancel_requested_at is not null)
  execute function staffroom.notify_task_cancel_requested();

-- Deleting an employee cancels its queued tasks and those waiting for tool outputs, and asks its running ones to
-- stop; the rest is as it was.
create or replace function staffroom.delete_employee(p_org uuid, p_employee uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
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
                where t.organization_id = p_org and t.employee_id = p_employee and t.status in ('queued', 'requires_action') loop
    perform staffroom.cancel_queued_task(v_task, 'Employee deleted: reservation released');
    v_canceled := v_canceled + 1;
  end loop;
  update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
    where organization_id = p_org and employee_id = p_employee and status = 'running';
  get diagnostics v_stopped = row_count;
  perform staffroom.record_audit(p_org, 'employee.deleted', 'employee', p_employee::text, null,
    jsonb_build_object('canceledTasks', v_canceled + v_stopped), p_request_id);
end
$$;

-- Deleting an organization does the same for all its tasks.
create or replace function staffroom.delete_organization(p_org uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_task uuid;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'delete the organization');
  for v_task in select t.id from staffroom.tasks t where t.organization_id = p_org and t.status in ('queued', 'requires_action') loop
    perform staffroom.cancel_queued_task(v_task, 'Organization deleted: reservation released');
  end loop;
  update staffroom.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
    where organization_id = p_org and status = 'running';
  update staffroom.organizations set deleted_at = now(), updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.deleted', 'organization', p_org::text, null, null, p_request_id);
end
$$;
