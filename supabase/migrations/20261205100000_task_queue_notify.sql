-- Workers learn of queued tasks when they are queued, whichever instance queued them: a task that becomes
-- `queued` (created, retried or given back) notifies the channel `staffroom_task_queued` when its
-- transaction commits. Workers listen there and poll only as a safety net (expired leases, a missed
-- notification while reconnecting), instead of asking the database twice a second per lane.
create function staffroom.notify_task_queued() returns trigger
  language plpgsql security definer set search_path = ''
as $$
begin
  perform pg_notify('staffroom_task_queued', '');
  return null;
end
$$;

create trigger tasks_notify_queued after insert or update of status on staffroom.tasks
  for each row when (new.status = 'queued') execute function staffroom.notify_task_queued();
