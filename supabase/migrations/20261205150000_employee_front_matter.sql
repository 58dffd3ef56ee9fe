-- The keys of an agent file the service does not use (`color`, `proactive`, ...), kept with the employee so that
-- exporting it gives them back. They are the file's own text, never read by the service: a JSON object of at
-- most 16 KiB. update_employee takes them under the patch key `frontMatter` (not audited: they change nothing
-- the employee does); the rest of the function is as it was.
alter table staffroom.employees add column front_matter jsonb not null default '{}'
  check (jsonb_typeof(front_matter) = 'object' and octet_length(front_matter::text) <= 16384);

create or replace function staffroom.update_employee(p_org uuid, p_employee uuid, p_patch jsonb, p_request_id text) returns void
  language plpgsql security definer set search_path = ''
as $$
declare
  before staffroom.employees%rowtype;
  after staffroom.employees%rowtype;
  b jsonb := '{}';
  a jsonb := '{}';
  k text;
begin
  perform staffroom.require_role(p_org, 'admin', 'manage employees', false);
  if jsonb_typeof(p_patch) is distinct from 'object' then
    perform staffroom.fail('VALIDATION_ERROR', 'The patch must be an object.');
  end if;
  select * into before from staffroom.employees where organization_id = p_org and id = p_employee and deleted_at is null for update;
  if not found then
    perform staffroom.fail('NOT_FOUND', 'Employee not found.');
  end if;
  if p_patch ? 'model' then
    perform staffroom.check_model(p_patch ->> 'model', 'body.model');
  end if;
  update staffroom.employees set
      name = case when p_patch ? 'name' then p_patch ->> 'name' else name end,
      slug = case when p_patch ? 'slug' then p_patch ->> 'slug' else slug end,
      description = case when p_patch ? 'description' then p_patch ->> 'description' else description end,
      instructions = case when p_patch ? 'instructions' then p_patch ->> 'instructions' else instructions end,
      model = case when p_patch ? 'model' then p_patch ->> 'model' else model end,
      tools = case when p_patch ? 'tools' then staffroom.distinct_in_order(array(select jsonb_array_elements_text(p_patch -> 'tools'))) else tools end,
      max_output_tokens = case when p_patch ? 'maxOutputTokens' then (p_patch ->> 'maxOutputTokens')::integer else max_output_tokens end,
      front_matter = case when p_patch ? 'frontMatter' then coalesce(p_patch -> 'frontMatter', '{}') else front_matter end,
      updated_at = now()
    where id = p_employee
    returning * into after;
  for k in select jsonb_object_keys(p_patch) loop
    if k in ('name', 'slug', 'description', 'instructions', 'model', 'tools', 'maxOutputTokens')
       and to_jsonb(before) -> (case k when 'maxOutputTokens' then 'max_output_tokens' else k end)
           is distinct from to_jsonb(after) -> (case k when 'maxOutputTokens' then 'max_output_tokens' else k end) then
      b := b || jsonb_build_object(k, staffroom.employee_audit_view(before) -> k);
      a := a || jsonb_build_object(k, staffroom.employee_audit_view(after) -> k);
    end if;
  end loop;
  if a <> '{}' then
    perform staffroom.record_audit(p_org, 'employee.updated', 'employee', p_employee::text, b, a, p_request_id);
  end if;
end
$$;
