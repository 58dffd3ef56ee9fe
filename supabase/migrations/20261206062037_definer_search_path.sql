-- Two findings of a review of the database as a security boundary (every signed-in user can run SQL as
-- `authenticated`).
--
-- 1. Types shadowed from the temporary schema. `search_path = ''` still looks types (and relations) up in the
--    session's temporary schema first, and every role could create temporary objects: after
--    `create domain pg_temp.text as pg_catalog.text check (pg_temp.evil(value))`, each `text` in a definer
--    function's body ran evil() with the owner's rights. So every function of ours that is SECURITY DEFINER or
--    sets a search_path runs with `search_path = pg_catalog, pg_temp` (the temporary schema named, so last),
--    and no API role may create temporary objects at all: TEMP on the database, which Postgres gives PUBLIC, is
--    taken back. A function added later says `set search_path = pg_catalog, pg_temp`; the privilege tests
--    fail on one that does not.
-- 2. The events channel named tenants. Any session may LISTEN (Postgres has no privilege for it), and
--    `staffroom_events` carried `<organization>:<task>:<seq>`. Its payload is now only a keyed hash of the
--    task in 4,096 values (empty for an event without one): many tasks share each value, and without the key,
--    which no API role can read, nobody can tell which tasks a value stands for. The API server (the owner)
--    computes the same value for the tasks it streams, wakes only their readers, and each reader reads what
--    is new after its own cursor, as the caller.

-- 1. Every function that is SECURITY DEFINER or sets a search_path, as the catalog lists them now.
do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p
    where p.pronamespace = 'staffroom'::regnamespace and p.prokind in ('f', 'p') and (p.prosecdef or p.proconfig is not null)
  loop
    execute format('alter routine %s set search_path = pg_catalog, pg_temp', f);
  end loop;
end
$$;

-- Only the owner (and superusers) may create temporary objects. CREATE DATABASE gives PUBLIC TEMP again in a
-- copy of this database, so whatever copies it takes it back too (test/support/database.ts).
do $$
begin
  execute format('revoke temporary on database %I from public, anon, authenticated', current_database());
  -- A revoke by a role that does not own the database only warns: fail instead of leaving the hole open.
  if has_database_privilege('anon', current_database(), 'temporary')
     or has_database_privilege('authenticated', current_database(), 'temporary') then
    raise exception 'anon or authenticated may still create temporary objects in database %; run this as its owner',
      current_database();
  end if;
end
$$;

-- 2. The key, the owner's alone, and the value made with it.
create table staffroom.event_wake_key (
  id boolean primary key default true check (id),
  key text not null
);
alter table staffroom.event_wake_key enable row level security;
revoke all on staffroom.event_wake_key from anon, authenticated, service_role;
insert into staffroom.event_wake_key (key) values (replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- Only the owner runs it (emit_event, the API server), so it needs no SECURITY DEFINER. 4,096 values: a stream
-- wakes for another task's event about once in 4,096, and each value stands for many tasks.
create function staffroom.event_wake_token(p_task uuid) returns text
  language sql stable set search_path = pg_catalog, pg_temp
as $$
  select left(encode(sha256(convert_to(k.key || ':' || p_task::text, 'UTF8')), 'hex'), 3) from staffroom.event_wake_key k
$$;
revoke execute on function staffroom.event_wake_token(uuid) from public, anon, authenticated, service_role;

create or replace function staffroom.emit_event(p_org uuid, p_task uuid, p_type text, p_data jsonb) returns bigint
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_seq bigint;
begin
  insert into staffroom.event_counters as c (organization_id, last_seq) values (p_org, 1)
    on conflict (organization_id) do update set last_seq = c.last_seq + 1
    returning last_seq into v_seq;
  insert into staffroom.events (organization_id, seq, task_id, type, data) values (p_org, v_seq, p_task, p_type, coalesce(p_data, '{}'));
  insert into staffroom.webhook_deliveries (endpoint_id, organization_id, event_seq, event_type)
    select e.id, p_org, v_seq, p_type from staffroom.webhook_endpoints e
    where e.organization_id = p_org and e.enabled and p_type = any (e.event_types);
  -- No organization, task or number: any session can listen.
  perform pg_notify('staffroom_events', coalesce(staffroom.event_wake_token(p_task), ''));
  return v_seq;
end
$$;
