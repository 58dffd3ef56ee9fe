-- Tasks: work given to an employee, run by workers on an LLM provider. A durable queue: workers claim with
-- FOR UPDATE SKIP LOCKED and hold a lease; every transition is guarded in SQL by the expected state and the
-- lease owner, so two workers never run one task and a finished task is never overwritten.
create table public.tasks (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  employee_id uuid not null references public.employees (id),
  created_by uuid references public.profiles (id),
  created_by_key uuid references public.api_keys (id),
  status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  input text not null check (char_length(input) between 1 and 100000),
  -- The definition the task runs with, fixed when it was created.
  instructions text not null,
  model text not null,
  max_output_tokens integer not null check (max_output_tokens > 0),
  output text,
  error_code text,
  error_message text,
  provider text,
  input_tokens integer,
  output_tokens integer,
  cached_input_tokens integer,
  cost_credits integer check (cost_credits >= 0),
  reserved_credits integer not null default 0 check (reserved_credits >= 0),
  attempts integer not null default 0,
  max_attempts integer not null default 3 check (max_attempts > 0),
  run_after timestamptz not null default now(),
  lease_owner text,
  lease_expires_at timestamptz,
  idempotency_key text,
  request_hash text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  cancel_requested_at timestamptz,
  check ((status = 'running') = (lease_owner is not null)),
  check ((status in ('succeeded', 'failed', 'canceled')) = (finished_at is not null))
);
create index tasks_organization_created_idx on public.tasks (organization_id, created_at desc, id desc);
create index tasks_organization_status_created_idx on public.tasks (organization_id, status, created_at desc, id desc);
create index tasks_organization_employee_created_idx on public.tasks (organization_id, employee_id, created_at desc, id desc);
create index tasks_employee_id_idx on public.tasks (employee_id);
create index tasks_created_by_idx on public.tasks (created_by);
create index tasks_created_by_key_idx on public.tasks (created_by_key);
create index tasks_claimable_idx on public.tasks (run_after) where status = 'queued';
create index tasks_leased_idx on public.tasks (lease_expires_at) where status = 'running';
create unique index tasks_idempotency_key on public.tasks (organization_id, idempotency_key) where idempotency_key is not null;

alter table public.tasks enable row level security;

-- Members and the organization's API keys read and create tasks. Nobody updates them directly: workers run
-- as the service role, and cancellation goes through public.cancel_task().
create policy tasks_select on public.tasks for select to authenticated
  using (public.org_role(organization_id) is not null);
create policy tasks_insert on public.tasks for insert to authenticated
  with check (public.org_role(organization_id) is not null and status = 'queued' and attempts = 0
              and lease_owner is null and output is null and cost_credits is null);

revoke all on public.tasks from anon, authenticated;
grant select, insert on public.tasks to authenticated;
grant all on public.tasks to service_role;

-- Cancels a task for the calling member: a queued one at once, a running one by request (its worker stops
-- when it sees cancel_requested_at). Returns the outcome; raises when the task is finished.
create function public.cancel_task(p_task_id uuid) returns text
  language plpgsql security definer set search_path = ''
as $$
declare
  t public.tasks%rowtype;
begin
  select * into t from public.tasks where id = p_task_id for update;
  if not found or public.org_role(t.organization_id) is null then
    raise exception 'task not found' using errcode = 'P0001', hint = 'task_not_found';
  end if;
  if t.status = 'queued' then
    update public.tasks set status = 'canceled', cancel_requested_at = now(), finished_at = now(), updated_at = now()
      where id = t.id;
    return 'canceled';
  elsif t.status = 'running' then
    update public.tasks set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now() where id = t.id;
    return 'requested';
  elsif t.status = 'canceled' then
    return 'unchanged';
  end if;
  raise exception 'task is finished' using errcode = 'P0001', hint = 'task_finished';
end
$$;

revoke execute on function public.cancel_task(uuid) from public, anon;
grant execute on function public.cancel_task(uuid) to authenticated;
