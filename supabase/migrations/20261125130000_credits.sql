-- Credits: an append-only ledger and one account row per organization holding what is available. Every
-- change to `available` writes a ledger entry with the balance after it, under the account row's lock, so
-- the ledger's sum always equals `available`, which can never go below zero.
create table public.credit_accounts (
  organization_id uuid primary key references public.organizations (id) on delete cascade,
  available bigint not null default 0 check (available >= 0),
  updated_at timestamptz not null default now()
);

create table public.credit_ledger (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  kind text not null check (kind in ('grant', 'purchase', 'reservation', 'usage', 'release', 'refund', 'adjustment')),
  amount bigint not null check (amount <> 0),
  balance_after bigint not null check (balance_after >= 0),
  reference text not null,
  task_id uuid references public.tasks (id) on delete set null,
  description text not null default '',
  created_at timestamptz not null default now(),
  unique (organization_id, kind, reference)
);
create index credit_ledger_organization_created_idx on public.credit_ledger (organization_id, created_at desc, id desc);
create index credit_ledger_organization_kind_created_idx on public.credit_ledger (organization_id, kind, created_at desc, id desc);
create index credit_ledger_task_id_idx on public.credit_ledger (task_id);

alter table public.credit_accounts enable row level security;
alter table public.credit_ledger enable row level security;

create policy credit_accounts_select on public.credit_accounts for select to authenticated
  using (public.org_role(organization_id) is not null);
create policy credit_ledger_select on public.credit_ledger for select to authenticated
  using (public.org_role(organization_id) in ('owner', 'admin'));

revoke all on public.credit_accounts, public.credit_ledger from anon, authenticated;
grant select on public.credit_accounts, public.credit_ledger to authenticated;
grant all on public.credit_accounts, public.credit_ledger to service_role;

-- Moves credits: one ledger entry, once per (kind, reference). Returns the balance after it, or null when
-- that entry exists already (a replay changes nothing). Raises insufficient_credits (hint) when a debit
-- would go below zero. Not callable by users: the service role and the definer functions below use it.
create function public.move_credits(
  p_org uuid, p_kind text, p_amount bigint, p_reference text, p_task uuid, p_description text
) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  after bigint;
begin
  insert into public.credit_accounts (organization_id) values (p_org) on conflict do nothing;
  if p_amount = 0 then
    return (select available from public.credit_accounts where organization_id = p_org);
  end if;
  perform 1 from public.credit_ledger where organization_id = p_org and kind = p_kind and reference = p_reference;
  if found then
    return null;
  end if;
  update public.credit_accounts set available = available + p_amount, updated_at = now()
    where organization_id = p_org and available + p_amount >= 0
    returning available into after;
  if after is null then
    raise exception 'insufficient credits' using errcode = 'P0001', hint = 'insufficient_credits';
  end if;
  insert into public.credit_ledger (organization_id, kind, amount, balance_after, reference, task_id, description)
    values (p_org, p_kind, p_amount, after, p_reference, p_task, coalesce(p_description, ''));
  return after;
end
$$;
revoke execute on function public.move_credits(uuid, text, bigint, text, uuid, text) from public, anon, authenticated;
grant execute on function public.move_credits(uuid, text, bigint, text, uuid, text) to service_role;

-- Reserves a new task's upper bound for the calling member: only for a queued task of theirs that has no
-- reservation yet, for exactly the amount recorded on the task.
create function public.reserve_task_credits(p_task uuid) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  t public.tasks%rowtype;
begin
  select * into t from public.tasks where id = p_task;
  if not found or public.org_role(t.organization_id) is null or t.status <> 'queued' then
    raise exception 'task not found' using errcode = 'P0001', hint = 'task_not_found';
  end if;
  return public.move_credits(t.organization_id, 'reservation', -t.reserved_credits, 'task:' || t.id, t.id, 'Reserved for a task');
end
$$;
revoke execute on function public.reserve_task_credits(uuid) from public, anon;
grant execute on function public.reserve_task_credits(uuid) to authenticated;

-- Cancellation now gives a queued task's reservation back in the same transaction.
create or replace function public.cancel_task(p_task_id uuid) returns text
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
    perform public.move_credits(t.organization_id, 'release', t.reserved_credits, 'task:' || t.id, t.id, 'Task canceled: reservation released');
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
