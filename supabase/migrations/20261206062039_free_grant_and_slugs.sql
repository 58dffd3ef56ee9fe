-- Two findings of a security review.
--   1. Free credits without end: every new organization got the free plan's monthly credits, so creating
--      organizations minted credits. Now the free grant, and its monthly renewal, belong to one organization
--      per person: the first one they create, for good (free_grants, keyed by user). Deleting, restoring or
--      handing over that organization never makes another one eligible; other free organizations start at 0
--      and run on credits bought, or on a paid plan's.
--   2. Slug squatting: a deleted organization's slug was free at once, so anyone could take it and its owner
--      could no longer restore it. Now a slug stays held while its organization is deleted and restorable
--      (30 days); after that it is released the first time someone asks for it. Slugs stay global (apps put
--      them in URLs), but a slug derived from the name takes the first free variant (`acme-2`) instead of
--      failing; only a slug the client chose answers SLUG_TAKEN.
-- Every function here is SECURITY DEFINER with search_path pg_catalog, pg_temp (pg_temp last, so no temporary
-- object shadows a name), granted as before: only create_organization's signature changes.

-- 1. Who received the free grant. No role reads or writes it; only the definer functions below do.
create table staffroom.free_grants (
  user_id uuid primary key references staffroom.profiles (id) on delete cascade,
  -- Null once the organization itself is gone: the person still had their grant.
  organization_id uuid unique references staffroom.organizations (id) on delete set null,
  granted_at timestamptz not null default now()
);
alter table staffroom.free_grants enable row level security;
revoke all on staffroom.free_grants from public, anon, authenticated, service_role;

-- Each person who created organizations before this keeps the free grant of one: their oldest live one
-- (else their oldest). What the others were granted stays theirs; they are just not granted again.
insert into staffroom.free_grants (user_id, organization_id, granted_at)
select distinct on (o.created_by) o.created_by, o.id, o.created_at
from staffroom.organizations o
order by o.created_by, (o.deleted_at is null) desc, o.created_at, o.id;

-- The free plan's credits for the current (UTC) month, once (by the reference), and only to the organization
-- its creator's free grant is bound to; create_task calls it too, which is how the grant renews each month.
create or replace function staffroom.grant_free_credits_for_this_month(p_org uuid) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
begin
  perform staffroom.move_credits(o.id, 'grant', p.monthly_credits, 'grant:free:' || to_char(now() at time zone 'UTC', 'YYYY-MM'),
                                 null, 'Free plan monthly credits')
  from staffroom.organizations o
  join staffroom.plans p on p.id = o.plan_id
  join staffroom.free_grants g on g.organization_id = o.id
  where o.id = p_org and o.plan_id = 'free';
end
$$;

-- 2. Slugs. A slug is held by a live organization or a deleted one that can still be restored; the index
-- cannot read the clock, so a deleted organization's slug is released (slug_released_at) when next wanted.
alter table staffroom.organizations add column slug_released_at timestamptz;

-- What the old index let happen: slugs of organizations past their restore window, and slugs of deleted
-- organizations that someone took meanwhile. Of several holders the live one keeps it, else the latest deleted.
update staffroom.organizations set slug_released_at = now()
  where deleted_at < now() - interval '30 days';
update staffroom.organizations o set slug_released_at = now()
  from (select id, row_number() over (partition by slug order by (deleted_at is null) desc, deleted_at desc, id) as n
        from staffroom.organizations where slug_released_at is null) ranked
  where o.id = ranked.id and ranked.n > 1;

drop index staffroom.organizations_slug_live_key;
create unique index organizations_slug_held_key on staffroom.organizations (slug) where slug_released_at is null;

-- Releases the slug from a deleted organization whose restore window (restore_organization's 30 days) is over.
create function staffroom.release_expired_slug(p_slug text) returns void
  language sql security definer set search_path = pg_catalog, pg_temp
as $$
  update staffroom.organizations set slug_released_at = now()
    where slug = p_slug and slug_released_at is null and deleted_at < now() - interval '30 days'
$$;

-- The first of `base`, `base-2`, `base-3` … that no organization holds; past fifty namesakes, a random suffix.
-- Always 48 characters at most, as the slug's check wants.
create function staffroom.free_organization_slug(p_base text) returns text
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_candidate text;
begin
  for n in 1..50 loop
    v_candidate := case when n = 1 then p_base else rtrim(left(p_base, 47 - length(n::text)), '-') || '-' || n end;
    perform staffroom.release_expired_slug(v_candidate);
    if not exists (select 1 from staffroom.organizations o where o.slug = v_candidate and o.slug_released_at is null) then
      return v_candidate;
    end if;
  end loop;
  loop
    v_candidate := rtrim(left(p_base, 39), '-') || '-' || left(replace(gen_random_uuid()::text, '-', ''), 8);
    if not exists (select 1 from staffroom.organizations o where o.slug = v_candidate and o.slug_released_at is null) then
      return v_candidate;
    end if;
  end loop;
end
$$;

-- p_slug_from_name: the slug was derived from the name, so a taken one gives way to the first free variant;
-- otherwise the client chose it and a taken one fails (unique violation on organizations_slug_held_key).
drop function staffroom.create_organization(text, text, text, text);
create function staffroom.create_organization(
  p_name text, p_slug text, p_default_model text, p_request_id text, p_slug_from_name boolean default false
) returns uuid
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_user uuid := staffroom.require_user();
  v_org uuid;
  v_slug text := p_slug;
  v_constraint text;
begin
  if not exists (select 1 from staffroom.models where id = p_default_model) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid body.defaultModel: "%s" is not a model from listModels.', p_default_model),
      jsonb_build_array(jsonb_build_object('field', 'body.defaultModel', 'message', format('"%s" is not a model from listModels', p_default_model))));
  end if;
  -- Every organization starts on the free plan; only Stripe (through the service role) changes it.
  if not coalesce(p_slug_from_name, false) then
    perform staffroom.release_expired_slug(p_slug);
    insert into staffroom.organizations (name, slug, plan_id, default_model, created_by)
      values (p_name, p_slug, 'free', p_default_model, v_user)
      returning id into v_org;
  else
    for attempt in 1..10 loop
      v_slug := staffroom.free_organization_slug(p_slug);
      begin
        insert into staffroom.organizations (name, slug, plan_id, default_model, created_by)
          values (p_name, v_slug, 'free', p_default_model, v_user)
          returning id into v_org;
        exit;
      exception when unique_violation then
        -- A concurrent request took the free slug first: look again, a few times.
        get stacked diagnostics v_constraint = constraint_name;
        if v_constraint is distinct from 'organizations_slug_held_key' or attempt = 10 then
          raise;
        end if;
      end;
    end loop;
  end if;
  insert into staffroom.memberships (organization_id, user_id, role) values (v_org, v_user, 'owner');
  -- The caller's first organization gets their free grant; a conflict means they had it already.
  insert into staffroom.free_grants (user_id, organization_id) values (v_user, v_org) on conflict (user_id) do nothing;
  insert into staffroom.credit_accounts (organization_id) values (v_org) on conflict do nothing;
  perform staffroom.grant_free_credits_for_this_month(v_org);
  perform staffroom.record_audit(v_org, 'organization.created', 'organization', v_org::text, null,
    jsonb_build_object('name', p_name, 'slug', v_slug, 'defaultModel', p_default_model), p_request_id);
  return v_org;
end
$$;
grant execute on function staffroom.create_organization(text, text, text, text, boolean) to authenticated;

-- A new slug releases an expired holder first; a held one fails as before (SLUG_TAKEN).
create or replace function staffroom.update_organization(p_org uuid, p_name text, p_slug text, p_default_model text, p_request_id text) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  before staffroom.organizations%rowtype;
  after staffroom.organizations%rowtype;
  b jsonb := '{}';
  a jsonb := '{}';
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'admin', 'change the organization');
  if p_default_model is not null and not exists (select 1 from staffroom.models where id = p_default_model) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid body.defaultModel: "%s" is not a model from listModels.', p_default_model),
      jsonb_build_array(jsonb_build_object('field', 'body.defaultModel', 'message', format('"%s" is not a model from listModels', p_default_model))));
  end if;
  if p_slug is not null then
    perform staffroom.release_expired_slug(p_slug);
  end if;
  select * into before from staffroom.organizations where id = p_org;
  update staffroom.organizations set name = coalesce(p_name, name), slug = coalesce(p_slug, slug),
      default_model = coalesce(p_default_model, default_model), updated_at = now()
    where id = p_org returning * into after;
  if before.name is distinct from after.name then b := b || jsonb_build_object('name', before.name); a := a || jsonb_build_object('name', after.name); end if;
  if before.slug is distinct from after.slug then b := b || jsonb_build_object('slug', before.slug); a := a || jsonb_build_object('slug', after.slug); end if;
  if before.default_model is distinct from after.default_model then
    b := b || jsonb_build_object('defaultModel', before.default_model); a := a || jsonb_build_object('defaultModel', after.default_model);
  end if;
  if a <> '{}' then
    perform staffroom.record_audit(p_org, 'organization.updated', 'organization', p_org::text, b, a, p_request_id);
  end if;
end
$$;

-- Restoring gives the organization back its slug, which it held all along. Only one whose slug was released
-- above (deleted before slugs were held, and taken meanwhile) comes back under the first free variant.
create or replace function staffroom.restore_organization(p_org uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_org staffroom.organizations%rowtype;
  v_slug text;
begin
  perform staffroom.require_user();
  perform staffroom.require_role(p_org, 'owner', 'restore the organization', true, true);
  -- Locked: release_expired_slug cannot release the slug between the window's check and the restore.
  select * into v_org from staffroom.organizations o where o.id = p_org for update;
  if v_org.deleted_at is null then
    perform staffroom.fail('NOT_DELETED', 'The organization is not deleted.');
  end if;
  if v_org.deleted_at < now() - interval '30 days' then
    perform staffroom.fail('NOT_FOUND', 'Organization not found.');
  end if;
  v_slug := case when v_org.slug_released_at is null then v_org.slug else staffroom.free_organization_slug(v_org.slug) end;
  update staffroom.organizations set deleted_at = null, slug = v_slug, slug_released_at = null, updated_at = now() where id = p_org;
  perform staffroom.record_audit(p_org, 'organization.restored', 'organization', p_org::text,
    case when v_slug <> v_org.slug then jsonb_build_object('slug', v_org.slug) end,
    case when v_slug <> v_org.slug then jsonb_build_object('slug', v_slug) end, p_request_id);
end
$$;
