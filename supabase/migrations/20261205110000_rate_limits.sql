-- Rate limits that hold across every instance of the API: one row per bucket (a user, an organization, a
-- client address), kept as the generic cell rate algorithm's "theoretical arrival time". A bucket of q
-- requests per w seconds lets a request through when, once it is counted, the bucket is at most w seconds
-- ahead of now; each request moves it w/q seconds ahead. A burst of q passes at once, then one per w/q.

alter table staffroom.plans add column requests_per_minute integer not null default 600 check (requests_per_minute > 0);
update staffroom.plans set requests_per_minute = case id when 'free' then 600 when 'starter' then 3000 when 'pro' then 12000 end;
alter table staffroom.plans alter column requests_per_minute drop default;

create table staffroom.rate_limits (
  key text primary key check (char_length(key) <= 200),
  tat timestamptz not null
);
alter table staffroom.rate_limits enable row level security;
-- No policy and no grant: only the API server, as the schema's owner, reads or writes it (take_rate_limit).

-- Counts one request against the given buckets (keys with their quota per window) and, when p_org is given,
-- against that organization's plan (bucket 'org:<id>', quota requests_per_minute per 60 s). The request
-- passes only if every bucket has room, and then counts in all of them; otherwise nothing is counted.
-- Answers the bucket with the least room left: its name, quota and window, the requests it has left, the
-- seconds until it is full again and, when refused, the seconds to wait.
create function staffroom.take_rate_limit(p_keys text[], p_quotas integer[], p_windows integer[], p_org uuid)
  returns table (allowed boolean, bucket text, quota integer, window_seconds integer, remaining integer,
                 reset_seconds integer, retry_after_seconds integer)
  language plpgsql security definer set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_keys text[] := coalesce(p_keys, '{}');
  v_quotas integer[] := coalesce(p_quotas, '{}');
  v_windows integer[] := coalesce(p_windows, '{}');
  v_plan_quota integer;
  v_tats timestamptz[] := '{}';
  v_next timestamptz;
  v_step interval;
  v_window interval;
  v_ahead double precision;
  v_allowed boolean := true;
  v_best integer;
  v_best_left double precision;
  v_left double precision;
  i integer;
begin
  if p_org is not null then
    select p.requests_per_minute into v_plan_quota
    from staffroom.organizations o join staffroom.plans p on p.id = o.plan_id where o.id = p_org;
    if found then
      v_keys := v_keys || ('org:' || p_org);
      v_quotas := v_quotas || v_plan_quota;
      v_windows := v_windows || 60;
    end if;
  end if;
  if cardinality(v_keys) = 0 or cardinality(v_keys) <> cardinality(v_quotas) or cardinality(v_keys) <> cardinality(v_windows) then
    return;
  end if;
  -- Rows are created, then locked, in key order, so concurrent requests never wait on each other in a cycle.
  insert into staffroom.rate_limits (key, tat)
    select k, v_now from unnest(v_keys) k order by k on conflict (key) do nothing;
  perform 1 from staffroom.rate_limits r where r.key = any(v_keys) order by r.key for update;
  for i in 1 .. cardinality(v_keys) loop
    v_step := make_interval(secs => v_windows[i]::double precision / v_quotas[i]);
    v_window := make_interval(secs => v_windows[i]);
    select greatest(r.tat, v_now) + v_step into v_next from staffroom.rate_limits r where r.key = v_keys[i];
    v_tats := v_tats || v_next;
    v_ahead := extract(epoch from v_next - v_now);
    if v_next - v_now > v_window then
      v_allowed := false;
    end if;
    -- Room left, in requests: how many more steps fit in the window.
    v_left := (v_windows[i] - v_ahead) / (v_windows[i]::double precision / v_quotas[i]);
    if v_best is null or v_left < v_best_left then
      v_best := i;
      v_best_left := v_left;
    end if;
  end loop;
  if v_allowed then
    for i in 1 .. cardinality(v_keys) loop
      update staffroom.rate_limits set tat = v_tats[i] where key = v_keys[i];
    end loop;
  end if;
  -- Now and then, forget buckets that have been full for a day.
  if random() < 0.001 then
    delete from staffroom.rate_limits where tat < v_now - interval '1 day';
  end if;
  v_ahead := extract(epoch from v_tats[v_best] - v_now);
  return query select
    v_allowed,
    split_part(v_keys[v_best], ':', 1),
    v_quotas[v_best],
    v_windows[v_best],
    greatest(floor(v_best_left), 0)::integer,
    ceil(case when v_allowed then v_ahead else v_ahead - v_windows[v_best]::double precision / v_quotas[v_best] end)::integer,
    case when v_allowed then null else greatest(ceil(v_ahead - v_windows[v_best]), 1)::integer end;
end
$$;
