-- Audit events from what changed, never from what the caller sent. Over the Data API any signed-in user can
-- call the definer functions with arguments of their own, so:
--   1. record_audit bounds every before/after it writes (staffroom.audit_json: at most 20 keys, strings cut at
--      200 characters, arrays at 20 items, nothing nested deeper, nothing that looks like a secret), whoever
--      built them; the actor stays the caller's claims (auth.uid(), or the live key named by `api_key_id`);
--   2. the request id is the server's own (`req_` and 32 hex digits), read from the transaction setting
--      `staffroom.request_id` that the server sets beside the claims, which the Data API has no way to set. The
--      functions keep their p_request_id arguments (same signatures, so the same grants) but no longer read
--      them: an id a client chose is never stored as ours;
--   3. update_webhook_endpoint recorded its patch (any keys, any size); it now records the endpoint's changed
--      columns before and after, and nothing when nothing changed. put_tool records the definition as stored
--      (its input schema by size and digest) and, on a redefinition, only what changed; create_webhook_endpoint
--      records the row as stored.
-- Every other function that audits records columns it changed or values read from rows (its arguments are
-- the values it stores, now bounded by record_audit), so it stays as it is.

-- A value as the audit trail keeps it. Recursive, so plpgsql (an SQL function cannot name itself).
create function staffroom.audit_json(v jsonb, depth integer default 0) returns jsonb
  language plpgsql immutable set search_path = pg_catalog, pg_temp
as $$
declare
  s text;
  kept jsonb;
begin
  case jsonb_typeof(v)
    when 'string' then
      s := v #>> '{}';
      -- A webhook secret or a SHA-256 in hex (key and token hashes) is never shown, whatever key holds it.
      if s ~ '^whsec_' or s ~ '^[0-9a-f]{64}$' then
        return '"[secret]"';
      end if;
      return to_jsonb(case when char_length(s) > 200 then left(s, 199) || '…' else s end);
    when 'array' then
      if depth >= 2 then
        return '"…"';
      end if;
      select coalesce(jsonb_agg(staffroom.audit_json(e, depth + 1) order by n), '[]') into kept
        from jsonb_array_elements(v) with ordinality as a(e, n) where n <= 20;
      return kept;
    when 'object' then
      if depth >= 2 then
        return '"…"';
      end if;
      select coalesce(jsonb_object_agg(left(f.key, 64), staffroom.audit_json(f.value, depth + 1)), '{}') into kept
        from (select x.key, x.value from jsonb_each(v) x
              where x.key !~* '(secret|hash|password|^token$)' order by x.key limit 20) f;
      return kept;
    else
      return v; -- numbers, booleans, JSON null and SQL null
  end case;
end
$$;
revoke execute on function staffroom.audit_json(jsonb, integer) from public, anon, authenticated;

-- The only writer of audit events. `request_id` is kept for the callers' signatures and not read.
create or replace function staffroom.record_audit(
  org uuid, action text, target_type text, target_id text, before jsonb, after jsonb, request_id text
) returns void
  language sql security definer set search_path = pg_catalog, pg_temp
as $$
  insert into staffroom.audit_events (organization_id, actor_type, actor_id, actor_email, action, target_type, target_id, before, after, request_id)
  values (
    org,
    case when auth.uid() is not null then 'user' when staffroom.caller_key() is not null then 'api_key' else 'system' end,
    coalesce(auth.uid(), staffroom.caller_key()),
    case when auth.uid() is not null then lower(auth.jwt() ->> 'email') end,
    action, target_type, target_id, staffroom.audit_json(before), staffroom.audit_json(after),
    substring(current_setting('staffroom.request_id', true) from '^req_[0-9a-f]{32}$'))
$$;

create or replace function staffroom.create_webhook_endpoint(
  p_org uuid, p_url text, p_description text, p_event_types text[], p_secret text, p_request_id text
) returns uuid
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_endpoint staffroom.webhook_endpoints%rowtype;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage webhooks', false);
  perform staffroom.check_webhook_event_types(p_event_types);
  perform 1 from staffroom.organizations where id = p_org for update;
  if (select count(*) from staffroom.webhook_endpoints where organization_id = p_org) >= 20 then
    perform staffroom.fail('PLAN_LIMIT_REACHED', 'An organization has at most 20 webhook endpoints; delete one first.');
  end if;
  insert into staffroom.webhook_endpoints (organization_id, url, description, event_types, secret)
    values (p_org, p_url, coalesce(p_description, ''), staffroom.distinct_in_order(p_event_types), p_secret)
    returning * into v_endpoint;
  perform staffroom.record_audit(p_org, 'organization.webhook_endpoint_created', 'organization', p_org::text, null,
    jsonb_build_object('endpoint', v_endpoint.id, 'url', v_endpoint.url, 'description', v_endpoint.description,
      'eventTypes', to_jsonb(v_endpoint.event_types)), p_request_id);
  return v_endpoint.id;
end
$$;

create or replace function staffroom.update_webhook_endpoint(p_org uuid, p_endpoint uuid, p_patch jsonb, p_request_id text) returns void
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  before staffroom.webhook_endpoints%rowtype;
  after staffroom.webhook_endpoints%rowtype;
  v_types text[];
  b jsonb;
  a jsonb;
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
      -- Absent eventTypes keep the stored ones: distinct_in_order(null) is an empty list, which the table refuses.
      event_types = case when v_types is null then event_types else staffroom.distinct_in_order(v_types) end,
      enabled = coalesce((p_patch ->> 'enabled')::boolean, enabled),
      disabled_reason = case when (p_patch ->> 'enabled')::boolean then null else disabled_reason end,
      failing_since = case when (p_patch ->> 'enabled')::boolean then null else failing_since end,
      updated_at = now()
    where id = p_endpoint
    returning * into after;
  -- The columns the API shows (never the secret), compared before and after: only those that changed.
  select jsonb_object_agg(o.key, o.value), jsonb_object_agg(n.key, n.value) into b, a
    from jsonb_each(jsonb_build_object('url', before.url, 'description', before.description, 'eventTypes', to_jsonb(before.event_types),
           'enabled', before.enabled, 'disabledReason', before.disabled_reason, 'failingSince', before.failing_since)) o
    join jsonb_each(jsonb_build_object('url', after.url, 'description', after.description, 'eventTypes', to_jsonb(after.event_types),
           'enabled', after.enabled, 'disabledReason', after.disabled_reason, 'failingSince', after.failing_since)) n on n.key = o.key
    where o.value is distinct from n.value;
  if a is not null then
    perform staffroom.record_audit(p_org, 'organization.webhook_endpoint_updated', 'organization', p_org::text,
      jsonb_build_object('endpoint', p_endpoint) || b, jsonb_build_object('endpoint', p_endpoint) || a, p_request_id);
  end if;
end
$$;

create or replace function staffroom.put_tool(
  p_org uuid, p_name text, p_description text, p_input_schema jsonb, p_writes boolean, p_request_id text
) returns boolean
  language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
  before staffroom.tools%rowtype;
  after staffroom.tools%rowtype;
  v_was jsonb;
  v_is jsonb;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage tools', false);
  if p_name is null or p_name !~ '^[A-Za-z][A-Za-z0-9_-]*$' or char_length(p_name) > 64 then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid path.toolName.',
      '[{"field": "path.toolName", "message": "must be a letter, then letters, digits, _ or -, up to 64"}]');
  end if;
  if jsonb_typeof(p_input_schema) is distinct from 'object' or octet_length(p_input_schema::text) > 16384 then
    perform staffroom.fail('VALIDATION_ERROR', 'Invalid body.inputSchema: it must be a JSON object of at most 16 KiB.',
      '[{"field": "body.inputSchema", "message": "must be a JSON object of at most 16 KiB"}]');
  end if;
  if exists (select 1 from staffroom.built_in_tools b where lower(b.name) = lower(p_name)) then
    perform staffroom.fail('VALIDATION_ERROR', format('Invalid path.toolName: %s is a built-in tool.', p_name),
      '[{"field": "path.toolName", "message": "is the name of a built-in tool"}]');
  end if;
  perform 1 from staffroom.organizations where id = p_org for update;
  select * into before from staffroom.tools where organization_id = p_org and name = p_name;
  if not found and (select count(*) from staffroom.tools where organization_id = p_org) >= 200 then
    perform staffroom.fail('PLAN_LIMIT_REACHED', 'An organization defines at most 200 tools; delete one first.');
  end if;
  insert into staffroom.tools as t (organization_id, name, description, input_schema, writes)
    values (p_org, p_name, p_description, p_input_schema, coalesce(p_writes, true))
    on conflict (organization_id, name) do update
      set description = excluded.description, input_schema = excluded.input_schema, writes = excluded.writes, updated_at = now()
    returning * into after;
  -- The definition as stored; its schema by size and digest, which is enough to see that it changed.
  v_is := jsonb_build_object('description', after.description, 'writes', after.writes, 'inputSchema',
    format('%s bytes, sha256 %s', octet_length(after.input_schema::text),
           left(encode(sha256(convert_to(after.input_schema::text, 'UTF8')), 'hex'), 16)));
  if before.id is null then
    perform staffroom.record_audit(p_org, 'organization.tool_defined', 'organization', p_org::text, null,
      jsonb_build_object('tool', after.name) || v_is, p_request_id);
    return true;
  end if;
  v_was := jsonb_build_object('description', before.description, 'writes', before.writes, 'inputSchema',
    format('%s bytes, sha256 %s', octet_length(before.input_schema::text),
           left(encode(sha256(convert_to(before.input_schema::text, 'UTF8')), 'hex'), 16)));
  select jsonb_object_agg(o.key, o.value), jsonb_object_agg(n.key, n.value) into v_was, v_is
    from jsonb_each(v_was) o join jsonb_each(v_is) n on n.key = o.key
    where o.value is distinct from n.value;
  if v_is is not null then
    perform staffroom.record_audit(p_org, 'organization.tool_updated', 'organization', p_org::text,
      jsonb_build_object('tool', after.name) || v_was, jsonb_build_object('tool', after.name) || v_is, p_request_id);
  end if;
  return false;
end
$$;
