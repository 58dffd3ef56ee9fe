-- A task taken over after its worker died (running, lease expired, claimed again with one more attempt) keeps
-- its status, so the status trigger said nothing and followers never learnt that another attempt had begun:
-- such a claim now emits `task.running` again, its data the task with the new `attempts`.
create or replace function staffroom.task_status_event() returns trigger
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_task staffroom.tasks%rowtype;
begin
  -- A takeover is the only update that keeps the status and still says something: a new attempt began.
  if tg_op = 'UPDATE' and new.status is not distinct from old.status
     and not (new.status = 'running' and new.attempts > old.attempts) then
    return null;
  end if;
  select * into v_task from staffroom.tasks where id = new.id;
  if not found then
    return null;
  end if;
  -- The row as it is now, with the status this change gave it (a later change in the transaction has its own event).
  v_task.status := new.status;
  perform staffroom.emit_event(new.organization_id, new.id, 'task.' || new.status, staffroom.task_json(v_task));
  return null;
end
$$;
