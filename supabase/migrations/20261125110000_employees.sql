-- AI employees: agent definitions owned by an organization, soft-deleted and restorable.
create table public.employees (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  slug text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) between 2 and 48),
  description text not null default '' check (char_length(description) <= 1000),
  instructions text not null check (char_length(instructions) between 1 and 50000),
  model text, -- null: the organization's default model
  tools text[] not null default '{}',
  max_output_tokens integer not null default 4096 check (max_output_tokens between 1 and 32000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);
create unique index employees_organization_slug_live_key on public.employees (organization_id, slug) where deleted_at is null;
create index employees_organization_created_idx on public.employees (organization_id, created_at desc, id desc);
create index employees_organization_name_idx on public.employees (organization_id, lower(name) text_pattern_ops);

alter table public.employees enable row level security;

-- Any member or the organization's API key reads; owners, admins and API keys (acting as admin) write.
create policy employees_select on public.employees for select to authenticated
  using (public.org_role(organization_id) is not null);
create policy employees_insert on public.employees for insert to authenticated
  with check (public.org_role(organization_id) in ('owner', 'admin'));
create policy employees_update on public.employees for update to authenticated
  using (public.org_role(organization_id) in ('owner', 'admin'))
  with check (public.org_role(organization_id) in ('owner', 'admin'));

revoke all on public.employees from anon, authenticated;
grant select, insert, update on public.employees to authenticated;
grant all on public.employees to service_role;
