-- Events: what happens to an organization's tasks and credits, numbered per organization in the order the
-- transactions that made them committed, so that "everything after event N" never misses one: the number
-- comes from the organization's counter row, whose lock each such transaction holds until it commits. Task
-- status events are written by a deferred trigger (at commit, after every other lock the transaction takes, so
-- that the counter's lock is always the last one taken); a step's events by the worker at the end of its step.
-- Listeners hear of each event on the channel `staffroom_events` (payload `<organization>:<task>:<seq>`).
--
-- Outgoing webhooks: each event of a type an enabled endpoint of its organization subscribed to queues a
-- delivery in the same transaction (a durable outbox); the service sends it, signed with the endpoint's secret,
-- and retries with backoff.

create table staffroom.event_counters (
  organization_id uuid primary key references staffroom.organizations (id) on delete cascade,
  last_seq bigint not null default 0
);
alter table staffroom.event_counters enable row level security;
revoke all on staffroom.event_counters from anon, authenticated, service_role;

create table staffroom.events (
  organization_id uuid not null references staffroom.organizations (id) on delete cascade,
  seq bigint not null,
  task_id uuid references staffroom.tasks (id) on delete cascade,
  type text not null check (type ~ '^[a-z]+\.[a-z_]+$'),
  data jsonb not null default '{}' check (jsonb_typeof(data) = 'object'),
  created_at timestamptz not null default now(),
  primary key (organization_id, seq)
);
create index events_task_idx on staffroom.events (task_id, seq) where task_id is not null;
create index events_created_idx on staffroom.events (created_at);
alter table staffroom.events enable row level security;
create policy events_select on staffroom.events for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('member')));
revoke all on staffroom.events from anon, authenticated, service_role;
grant select on staffroom.events to authenticated, service_role;

-- 1. Webhook endpoints and deliveries.
create table staffroom.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references staffroom.organizations (id) on delete cascade,
  url text not null check (char_length(url) <= 2048 and url ~ '^https?://'),
  description text not null default '' check (char_length(description) <= 500),
  event_types text[] not null check (cardinality(event_types) between 1 and 20),
  -- The signing secret: no user role reads it (column grants below); the API shows it once.
  secret text not null check (secret ~ '^whsec_[A-Za-z0-9+/=]{16,}$'),
  enabled boolean not null default true,
  disabled_reason text,
  -- When the deliveries began to fail without a success since; after 3 days of it the endpoint is disabled.
  failing_since timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhook_endpoints_organization_created_idx on staffroom.webhook_endpoints (organization_id, created_at desc, id desc);
alter table staffroom.webhook_endpoints enable row level security;
create policy webhook_endpoints_select on staffroom.webhook_endpoints for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('admin')));
revoke all on staffroom.webhook_endpoints from anon, authenticated, service_role;
grant select (id, organization_id, url, description, event_types, enabled, disabled_reason, failing_since, created_at, updated_at)
  on staffroom.webhook_endpoints to authenticated;
grant select on staffroom.webhook_endpoints to service_role;
grant update (enabled, disabled_reason, failing_since, updated_at) on staffroom.webhook_endpoints to service_role;

create table staffroom.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  endpoint_id uuid not null references staffroom.webhook_endpoints (id) on delete cascade,
  organization_id uuid not null,
  event_seq bigint not null,
  event_type text not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz default now(),
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  lease_owner text,
  lease_expires_at timestamptz,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  foreign key (organization_id, event_seq) references staffroom.events (organization_id, seq) on delete cascade,
  check ((status = 'pending') = (next_attempt_at is not null))
);
create index webhook_deliveries_due_idx on staffroom.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_endpoint_created_idx on staffroom.webhook_deliveries (endpoint_id, created_at desc, id desc);
create index webhook_deliveries_event_idx on staffroom.webhook_deliveries (organization_id, event_seq);
alter table staffroom.webhook_deliveries enable row level security;
create policy webhook_deliveries_select on staffroom.webhook_deliveries for select to authenticated
  using (organization_id in (select staffroom.caller_organizations('admin')));
revoke all on staffroom.webhook_deliveries from anon, authenticated, service_role;
grant select (id, endpoint_id, organization_id, event_seq, event_type, status, attempts, next_attempt_at, last_attempt_at,
              last_status_code, last_error, created_at, delivered_at)
  on staffroom.webhook_deliveries to authenticated;
grant select on staffroom.webhook_deliveries to service_role;
grant update (status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, lease_owner, lease_expires_at, delivered_at)
  on staffroom.webhook_deliveries to service_role;

-- 2. Writing an event: numbered under the organization's counter lock, announced, and queued for the
-- endpoints that want it.
create function staffroom.emit_event(p_org uuid, p_task uuid, p_type text, p_data jsonb) returns bigint
  language plpgsql security definer set search_path = ''
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
  perform pg_notify('staffroom_events', p_org::text || ':' || coalesce(p_task::text, '') || ':' || v_seq);
  return v_seq;
end
$$;

-- A task as the API shows it (the Task schema; src/db/queries/tasks.ts reads the same columns, and a test keeps
-- the two equal).
create function staffroom.task_json(t staffroom.tasks) returns jsonb
  language sql stable set search_path = ''
as $$
  select jsonb_build_object(
    'id', t.id, 'organizationId', t.organization_id, 'employeeId', t.employee_id, 'status', t.status, 'input', t.input,
    'output', t.output,
    'error', case when t.error_code is null then null else jsonb_build_object('code', t.error_code, 'message', t.error_message) end,
    'provider', t.provider, 'model', t.model,
    'usage', case when t.input_tokens is null then null
                  else jsonb_build_object('inputTokens', t.input_tokens, 'outputTokens', t.output_tokens, 'cachedInputTokens', t.cached_input_tokens) end,
    'costCredits', t.cost_credits,
    'reservedCredits', case when t.status in ('queued', 'running') then t.reserved_credits else 0 end,
    'attempts', t.attempts, 'maxAttempts', t.max_attempts, 'toolUse', t.tool_use, 'steps', t.steps, 'maxSteps', t.max_steps,
    'pendingToolCalls', t.pending_tool_calls, 'actionExpiresAt', to_json(t.action_expires_at)#>>'{}',
    'previousTaskId', t.previous_task_id, 'createdAt', to_json(t.created_at)#>>'{}', 'startedAt', to_json(t.started_at)#>>'{}',
    'finishedAt', to_json(t.finished_at)#>>'{}', 'cancelRequestedAt', to_json(t.cancel_requested_at)#>>'{}')
$$;

-- At commit, one event per status a task took in the transaction (its state then; the usage and cost of a
-- finished task are read from the row as it is at commit, where they were totalled).
create function staffroom.task_status_event() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  v_task staffroom.tasks%rowtype;
begin
  if tg_op = 'UPDATE' and new.status is not distinct from old.status then
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
create constraint trigger tasks_status_event after insert or update of status on staffroom.tasks
  deferrable initially deferred
  for each row execute function staffroom.task_status_event();

-- 3. credits.low: the first time the available credits fall below a tenth of the plan's monthly credits;
-- again only after they were back above it.
alter table staffroom.credit_accounts add column low_notified boolean not null default false;

create function staffroom.credits_low_event() returns trigger
  language plpgsql security definer set search_path = ''
as $$
declare
  v_account staffroom.credit_accounts%rowtype;
  v_threshold bigint;
begin
  -- The balance as the transaction leaves it: a dip it undoes itself (a reservation released) is no news.
  select * into v_account from staffroom.credit_accounts where organization_id = new.organization_id;
  select p.monthly_credits / 10 into v_threshold
    from staffroom.organizations o join staffroom.plans p on p.id = o.plan_id where o.id = new.organization_id;
  if not found or v_threshold is null then
    return null;
  end if;
  if v_account.available < v_threshold and not v_account.low_notified then
    update staffroom.credit_accounts set low_notified = true where organization_id = new.organization_id;
    perform staffroom.emit_event(new.organization_id, null, 'credits.low',
      jsonb_build_object('available', v_account.available, 'threshold', v_threshold));
  elsif v_account.available >= v_threshold and v_account.low_notified then
    update staffroom.credit_accounts set low_notified = false where organization_id = new.organization_id;
  end if;
  return null;
end
$$;
create constraint trigger credit_accounts_low_event after update of available on staffroom.credit_accounts
  deferrable initially deferred
  for each row execute function staffroom.credits_low_event();

-- billing.updated, from the Stripe webhook's transaction (service role): the organization's plan and credits.
create function staffroom.emit_billing_updated(p_org uuid) returns bigint
  language sql security definer set search_path = ''
as $$
  select staffroom.emit_event(p_org, null, 'billing.updated', jsonb_build_object(
    'planId', o.plan_id,
    'subscriptionStatus', coalesce((select s.status from staffroom.subscriptions s where s.organization_id = o.id), 'none'),
    'credits', jsonb_build_object('available', coalesce((select a.available from staffroom.credit_accounts a where a.organization_id = o.id), 0))))
  from staffroom.organizations o where o.id = p_org
$$;

-- A step's events, from the worker (service role) while it holds the task's lease.
create function staffroom.emit_task_event(p_task uuid, p_worker text, p_type text, p_data jsonb) returns bigint
  language plpgsql security definer set search_path = ''
as $$
declare
  v_org uuid;
begin
  if p_type not in ('task.output_delta', 'task.step_completed') then
    raise exception 'not a step event' using errcode = 'P0001', hint = 'bad_event';
  end if;
  select organization_id into v_org from staffroom.tasks where id = p_task and status = 'running' and lease_owner = p_worker;
  if not found then
    raise exception 'lease lost' using errcode = 'P0001', hint = 'lease_lost';
  end if;
  return staffroom.emit_event(v_org, p_task, p_type, p_data);
end
$$;

-- Events and deliveries older than 30 days go (the worker calls this now and then).
create function staffroom.sweep_events() returns integer
  language sql security definer set search_path = ''
as $$
  with gone as (
    delete from staffroom.events where ctid in (
      select ctid from staffroom.events where created_at < now() - interval '30 days' limit 5000)
    returning 1)
  select count(*)::integer from gone
$$;

-- 4. What admins do with endpoints. The API checks a URL resolves to a public address before it gets here,
-- and the sender checks again before every delivery; the database holds the shape and the limit.
create function staffroom.check_webhook_event_types(p_types text[]) returns void
  language plpgsql immutable set search_path = ''
as $$
begin
  if p_types is null or cardinality(p_types) = 0 or exists (
       select 1 from unnest(p_types) t
       where t not in ('task.succeeded', 'task.failed', 'task.requires_action', 'task.canceled', 'task.expired', 'credits.low', 'billing.updated')) then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.eventTypes.',
      '[{"field": "body.eventTypes", "message": "must list event types an endpoint may receive"}]');
  end if;
end
$$;

create function staffroom.create_webhook_endpoint(
  p_org uuid, p_url text, p_description text, p_event_types text[], p_secret text, p_request_id text
) returns uuid
  language plpgsql security definer set search_path = ''
as $$
declare
  v_endpoint uuid;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage webhooks', false);
  perform staffroom.check_webhook_event_types(p_event_types);
  perform 1 from staffroom.organizations where id = p_org for update;
  if (select count(*) from staffroom.webhook_endpoints where organization_id = p_org) >= 20 then
    perform staffroom.fail('PLAN_LIMIT_REACHED', 'An organization has at most 20 webhook endpoints; delete one first.');
  end if;
  insert into staffroom.webhook_endpoints (organization_id, url, description, event_types, secret)
    values (p_org, p_url, coalesce(p_description, ''), staffroom.distinct_in_order(p_event_types), p_secret)
    returning id into v_endpoint;
  perform staffroom.record_audit(p_org, 'organization.webhook_endpoint_created', 'organization', p_org::text, null,
    jsonb_build_object('endpoint', v_endpoint, 'url', p_url, 'eventTypes', to_jsonb(p_event_types)), p_request_id);
  return v_endpoint;
end
$$;

create function staffroom.update_webhook_endpoint(p_org uuid, p_endpoint uuid, p_patch jsonb, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  before staffroom.webhook_endpoints%rowtype;
  v_types text[];
begin
  perform staffroom.require_role(p_org, 'admin', 'manage webhooks', false);
  select * into before from staffroom.webhook_endpoints where organization_id = p_org and id = p_endpoint for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Webhook endpoint not found.');
  end if;
  if p_patch ? 'eventTypes' then
    v_types := array(select jsonb_array_elements_text(p_patch -> 'eventTypes'));
    perform staffroom.check_webhook_event_types(v_types);
  end if;
  if p_patch ? 'url' and (p_patch ->> 'url') !~ '^https?://' then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.url.', '[{"field": "body.url", "message": "must be an http(s) URL"}]');
  end if;
  update staffroom.webhook_endpoints set
      url = coalesce(p_patch ->> 'url', url),
      description = coalesce(p_patch ->> 'description', description),
      event_types = coalesce(staffroom.distinct_in_order(v_types), event_types),
      enabled = coalesce((p_patch ->> 'enabled')::boolean, enabled),
      disabled_reason = case when (p_patch ->> 'enabled')::boolean then null else disabled_reason end,
      failing_since = case when (p_patch ->> 'enabled')::boolean then null else failing_since end,
      updated_at = now()
    where id = p_endpoint;
  perform staffroom.record_audit(p_org, 'organization.webhook_endpoint_updated', 'organization', p_org::text,
    jsonb_build_object('endpoint', p_endpoint, 'url', before.url, 'eventTypes', to_jsonb(before.event_types), 'enabled', before.enabled),
    jsonb_build_object('endpoint', p_endpoint) || (p_patch - 'description'), p_request_id);
end
$$;

create function staffroom.delete_webhook_endpoint(p_org uuid, p_endpoint uuid, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_url text;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage webhooks', false);
  delete from staffroom.webhook_endpoints where organization_id = p_org and id = p_endpoint returning url into v_url;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Webhook endpoint not found.');
  end if;
  perform staffroom.record_audit(p_org, 'organization.webhook_endpoint_deleted', 'organization', p_org::text,
    jsonb_build_object('endpoint', p_endpoint, 'url', v_url), null, p_request_id);
end
$$;

create function staffroom.rotate_webhook_secret(p_org uuid, p_endpoint uuid, p_secret text, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
begin
  perform staffroom.require_role(p_org, 'admin', 'manage webhooks', false);
  update staffroom.webhook_endpoints set secret = p_secret, updated_at = now() where organization_id = p_org and id = p_endpoint;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Webhook endpoint not found.');
  end if;
  perform staffroom.record_audit(p_org, 'organization.webhook_secret_rotated', 'organization', p_org::text, null,
    jsonb_build_object('endpoint', p_endpoint), p_request_id);
end
$$;

create function staffroom.redeliver_webhook(p_org uuid, p_endpoint uuid, p_delivery uuid) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  v_enabled boolean;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage webhooks', false);
  select enabled into v_enabled from staffroom.webhook_endpoints where organization_id = p_org and id = p_endpoint;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Webhook endpoint not found.');
  end if;
  if not v_enabled then
    perform staffroom.fail('CONFLICT', 'The endpoint is disabled; enable it before sending to it again.');
  end if;
  update staffroom.webhook_deliveries set status = 'pending', next_attempt_at = now(), lease_owner = null, lease_expires_at = null
    where organization_id = p_org and endpoint_id = p_endpoint and id = p_delivery;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Delivery not found.');
  end if;
end
$$;

revoke execute on function staffroom.emit_event(uuid, uuid, text, jsonb) from public, anon, authenticated;
revoke execute on function staffroom.task_json(staffroom.tasks) from public, anon, authenticated;
revoke execute on function staffroom.task_status_event() from public, anon, authenticated;
revoke execute on function staffroom.credits_low_event() from public, anon, authenticated;
revoke execute on function staffroom.check_webhook_event_types(text[]) from public, anon, authenticated;
revoke execute on function staffroom.emit_billing_updated(uuid) from public, anon, authenticated;
grant execute on function staffroom.emit_billing_updated(uuid) to service_role;
revoke execute on function staffroom.emit_task_event(uuid, text, text, jsonb) from public, anon, authenticated;
grant execute on function staffroom.emit_task_event(uuid, text, text, jsonb) to service_role;
revoke execute on function staffroom.sweep_events() from public, anon, authenticated;
grant execute on function staffroom.sweep_events() to service_role;
revoke execute on function staffroom.create_webhook_endpoint(uuid, text, text, text[], text, text) from public, anon;
grant execute on function staffroom.create_webhook_endpoint(uuid, text, text, text[], text, text) to authenticated;
revoke execute on function staffroom.update_webhook_endpoint(uuid, uuid, jsonb, text) from public, anon;
grant execute on function staffroom.update_webhook_endpoint(uuid, uuid, jsonb, text) to authenticated;
revoke execute on function staffroom.delete_webhook_endpoint(uuid, uuid, text) from public, anon;
grant execute on function staffroom.delete_webhook_endpoint(uuid, uuid, text) to authenticated;
revoke execute on function staffroom.rotate_webhook_secret(uuid, uuid, text, text) from public, anon;
grant execute on function staffroom.rotate_webhook_secret(uuid, uuid, text, text) to authenticated;
revoke execute on function staffroom.redeliver_webhook(uuid, uuid, uuid) from public, anon;
grant execute on function staffroom.redeliver_webhook(uuid, uuid, uuid) to authenticated;
