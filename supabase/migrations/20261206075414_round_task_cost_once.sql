-- A task's cost is rounded up to a credit once, over all its steps, as the contract says: each step used to be
-- rounded up on its own (two steps of 0.27 credit cost 2 credits, not 1). The task now keeps its exact cost so
-- far, in picodollars (10^-12 US$; a credit is 10^8 of them, and tokens × price per million tokens in
-- micro-dollars is a whole number of them), and each step charges the difference between the rounded-up running
-- total and what the task's steps were charged before: the ledger stays in whole credits and adds up to the
-- task's exact cost rounded up once.
alter table staffroom.tasks add column cost_picodollars bigint not null default 0 check (cost_picodollars >= 0);

-- Tasks with steps already charged count those charges as exact: their next steps charge only what is new.
update staffroom.tasks t set cost_picodollars = s.charged * 100000000
from (select task_id, sum(cost_credits) as charged from staffroom.task_messages where cost_credits is not null group by task_id) s
where s.task_id = t.id and s.charged > 0;

create function staffroom.settle_task_step_exact(p_task uuid, p_worker text, p_picodollars bigint, p_description text)
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
  select * into t from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker for update;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
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
revoke execute on function staffroom.settle_task_step_exact(uuid, text, bigint, text) from public, anon, authenticated;
grant execute on function staffroom.settle_task_step_exact(uuid, text, bigint, text) to service_role;

-- Workers of the previous release send whole credits: the same settlement, their credits taken as exact.
create or replace function staffroom.settle_task_step(p_task uuid, p_worker text, p_cost bigint, p_description text) returns bigint
  language sql security definer set search_path = pg_catalog, pg_temp
as $$
  select staffroom.settle_task_step_exact(p_task, p_worker, greatest(p_cost, 0) * 100000000, p_description);
$$;
