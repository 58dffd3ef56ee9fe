-- Identity and tenancy: profiles, organizations, memberships, invitations, API keys and the audit trail.
-- Every table has Row Level Security; membership checks go through SECURITY DEFINER helpers with an empty
-- search_path, so policies never query a table whose own policy queries them back (no 42P17 recursion).

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text not null,
  name text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 100),
  slug text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) between 2 and 48),
  plan_id text not null default 'free' check (plan_id in ('free', 'starter', 'pro')),
  default_model text not null,
  created_by uuid not null references public.profiles (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);
-- A slug is unique among live organizations; a deleted one keeps its slug until it is reused.
create unique index organizations_slug_live_key on public.organizations (slug) where deleted_at is null;
create index organizations_created_by_idx on public.organizations (created_by);

create table public.memberships (
  organization_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (organization_id, user_id)
);
create index memberships_user_id_idx on public.memberships (user_id);

create table public.invitations (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  email text not null check (email = lower(email)),
  role text not null check (role in ('admin', 'member')),
  token_hash text not null unique,
  invited_by uuid not null references public.profiles (id),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz,
  accepted_by uuid references public.profiles (id),
  revoked_at timestamptz
);
create unique index invitations_pending_email_key on public.invitations (organization_id, email)
  where accepted_at is null and revoked_at is null;
create index invitations_organization_created_idx on public.invitations (organization_id, created_at desc, id desc);
create index invitations_invited_by_idx on public.invitations (invited_by);
create index invitations_accepted_by_idx on public.invitations (accepted_by);

create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  prefix text not null,
  secret_hash text not null unique,
  created_by uuid not null references public.profiles (id),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_organization_created_idx on public.api_keys (organization_id, created_at desc, id desc);
create index api_keys_created_by_idx on public.api_keys (created_by);

create table public.audit_events (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  actor_type text not null check (actor_type in ('user', 'api_key', 'system')),
  actor_id uuid,
  actor_email text,
  action text not null,
  target_type text not null,
  target_id text,
  before jsonb,
  after jsonb,
  request_id text,
  created_at timestamptz not null default now()
);
create index audit_events_organization_created_idx on public.audit_events (organization_id, created_at desc, id desc);
create index audit_events_organization_action_idx on public.audit_events (organization_id, action);
create index audit_events_organization_actor_idx on public.audit_events (organization_id, actor_id);

-- Helpers. The caller is auth.uid() (a user) or, for an API key, the claims `api_key_id` + `organization_id`
-- set by the server after it verified the key.

-- The caller's role in an organization: a user's membership role, `admin` for that organization's API key,
-- or null. Deleted organizations give null unless include_deleted (owners restoring them).
create function public.org_role(org uuid, include_deleted boolean default false) returns text
  language sql stable security definer set search_path = ''
as $$
  select case
    when auth.jwt() ->> 'api_key_id' is not null then
      case when (auth.jwt() ->> 'organization_id') = org::text
             and exists (select 1 from public.organizations o where o.id = org and o.deleted_at is null)
           then 'admin' end
    else (
      select m.role from public.memberships m
      join public.organizations o on o.id = m.organization_id
      where m.organization_id = org and m.user_id = auth.uid()
        and (include_deleted or o.deleted_at is null)
    )
  end
$$;

-- The same, for users only: API keys cannot manage members, invitations or keys.
create function public.user_org_role(org uuid) returns text
  language sql stable security definer set search_path = ''
as $$
  select m.role from public.memberships m
  join public.organizations o on o.id = m.organization_id
  where m.organization_id = org and m.user_id = auth.uid() and o.deleted_at is null
$$;

-- Whether the caller shares a live organization with a user (to see co-members' profiles).
create function public.shares_organization(other uuid) returns boolean
  language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships mine
    join public.memberships theirs on theirs.organization_id = mine.organization_id
    join public.organizations o on o.id = mine.organization_id
    where mine.user_id = auth.uid() and theirs.user_id = other and o.deleted_at is null
  )
$$;

-- Whether an organization has no members yet and was created by the caller (its first owner joins).
create function public.can_found(org uuid) returns boolean
  language sql stable security definer set search_path = ''
as $$
  select exists (select 1 from public.organizations o where o.id = org and o.created_by = auth.uid())
     and not exists (select 1 from public.memberships m where m.organization_id = org)
$$;

-- Every organization keeps an owner: checked under a lock on the organization row, so two concurrent
-- demotions or removals of its last two owners cannot both succeed.
create function public.keep_an_owner() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  org uuid := old.organization_id;
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner') then
    return coalesce(new, old);
  end if;
  -- NO KEY UPDATE: serialises owner changes per organization without conflicting with the KEY SHARE locks
  -- that foreign keys (audit events written earlier in the same transaction) take on the organization row.
  perform 1 from public.organizations where id = org for no key update;
  if not found then
    return coalesce(new, old); -- the organization itself is being deleted
  end if;
  if not exists (
    select 1 from public.memberships
    where organization_id = org and role = 'owner' and user_id <> old.user_id
  ) then
    raise exception 'an organization must keep at least one owner' using errcode = 'P0001', hint = 'last_owner';
  end if;
  return coalesce(new, old);
end
$$;

create trigger memberships_keep_an_owner
  before update of role or delete on public.memberships
  for each row execute function public.keep_an_owner();

-- Row Level Security.
alter table public.profiles enable row level security;
alter table public.organizations enable row level security;
alter table public.memberships enable row level security;
alter table public.invitations enable row level security;
alter table public.api_keys enable row level security;
alter table public.audit_events enable row level security;

create policy profiles_select on public.profiles for select to authenticated
  using (id = auth.uid() or public.shares_organization(id));
create policy profiles_insert on public.profiles for insert to authenticated
  with check (id = auth.uid());
create policy profiles_update on public.profiles for update to authenticated
  using (id = auth.uid()) with check (id = auth.uid());

create policy organizations_select on public.organizations for select to authenticated
  using (public.org_role(id) is not null or public.org_role(id, true) = 'owner');
create policy organizations_insert on public.organizations for insert to authenticated
  with check (created_by = auth.uid() and auth.jwt() ->> 'api_key_id' is null);
create policy organizations_update on public.organizations for update to authenticated
  using (public.user_org_role(id) in ('owner', 'admin') or public.org_role(id, true) = 'owner')
  with check (public.org_role(id, true) in ('owner', 'admin'));

create policy memberships_select on public.memberships for select to authenticated
  using (public.org_role(organization_id) is not null or user_id = auth.uid());
create policy memberships_insert on public.memberships for insert to authenticated
  with check (user_id = auth.uid() and role = 'owner' and public.can_found(organization_id));
create policy memberships_update on public.memberships for update to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin'))
  with check (public.user_org_role(organization_id) in ('owner', 'admin'));
create policy memberships_delete on public.memberships for delete to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin') or user_id = auth.uid());

create policy invitations_select on public.invitations for select to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin'));
create policy invitations_insert on public.invitations for insert to authenticated
  with check (public.user_org_role(organization_id) in ('owner', 'admin') and invited_by = auth.uid());
create policy invitations_update on public.invitations for update to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin'))
  with check (public.user_org_role(organization_id) in ('owner', 'admin'));

create policy api_keys_select on public.api_keys for select to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin'));
create policy api_keys_insert on public.api_keys for insert to authenticated
  with check (public.user_org_role(organization_id) in ('owner', 'admin') and created_by = auth.uid());
create policy api_keys_update on public.api_keys for update to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin'))
  with check (public.user_org_role(organization_id) in ('owner', 'admin'));

-- Append-only: written by whoever made the change, in the same transaction; read by owners and admins.
create policy audit_events_select on public.audit_events for select to authenticated
  using (public.user_org_role(organization_id) in ('owner', 'admin'));
create policy audit_events_insert on public.audit_events for insert to authenticated
  with check (public.org_role(organization_id, true) is not null);

-- Privileges: nothing for anon; RLS decides for authenticated. (Supabase grants anon by default: revoke.)
revoke all on public.profiles, public.organizations, public.memberships, public.invitations, public.api_keys,
  public.audit_events from anon, authenticated;
grant select, insert, update on public.profiles, public.organizations, public.invitations, public.api_keys
  to authenticated;
grant select, insert, update, delete on public.memberships to authenticated;
grant select, insert on public.audit_events to authenticated;
grant all on public.profiles, public.organizations, public.memberships, public.invitations, public.api_keys,
  public.audit_events to service_role;
revoke execute on function public.org_role(uuid, boolean), public.user_org_role(uuid),
  public.shares_organization(uuid), public.can_found(uuid) from public, anon;
grant execute on function public.org_role(uuid, boolean), public.user_org_role(uuid),
  public.shares_organization(uuid), public.can_found(uuid) to authenticated, service_role;
