import type { Tx } from '../client.js';
import type { Cursor } from '../../services/pagination.js';
import type { components } from '../../generated/api.js';

export type EmployeeRow = components['schemas']['Employee'];
type Tool = components['schemas']['Tool'];

export interface EmployeeFields {
  name: string;
  slug: string;
  description: string;
  instructions: string;
  model: string | null;
  tools: Tool[];
  maxOutputTokens: number;
}

const employeeColumns = (tx: Tx) => tx`
  e.id, e.organization_id as "organizationId", e.name, e.slug, e.description, e.instructions, e.model, e.tools,
  e.max_output_tokens as "maxOutputTokens", to_json(e.created_at)#>>'{}' as "createdAt",
  to_json(e.updated_at)#>>'{}' as "updatedAt", to_json(e.deleted_at)#>>'{}' as "deletedAt"`;

/** Serialises employee creation per organization, so the plan's limit holds under concurrent requests. */
export async function lockEmployeeCount(tx: Tx, orgId: string): Promise<number> {
  await tx`select pg_advisory_xact_lock(hashtext('employees:' || ${orgId}))`;
  const [row] = await tx<{ count: number }[]>`
    select count(*)::int as count from public.employees where organization_id = ${orgId} and deleted_at is null`;
  return row?.count ?? 0;
}

export async function insertEmployee(tx: Tx, orgId: string, fields: EmployeeFields): Promise<EmployeeRow> {
  const [row] = await tx<EmployeeRow[]>`
    with inserted as (
      insert into public.employees (organization_id, name, slug, description, instructions, model, tools, max_output_tokens)
      values (${orgId}, ${fields.name}, ${fields.slug}, ${fields.description}, ${fields.instructions}, ${fields.model},
              ${fields.tools}::text[], ${fields.maxOutputTokens})
      returning *)
    select ${employeeColumns(tx)} from inserted e`;
  return row!;
}

export async function findEmployee(
  tx: Tx,
  orgId: string,
  where: { id: string } | { slug: string },
  options: { includeDeleted?: boolean } = {},
): Promise<EmployeeRow | undefined> {
  const [row] = await tx<EmployeeRow[]>`
    select ${employeeColumns(tx)} from public.employees e
    where e.organization_id = ${orgId}
      and ${'id' in where ? tx`e.id = ${where.id}` : tx`e.slug = ${where.slug} and e.deleted_at is null`}
      ${options.includeDeleted ? tx`` : tx`and e.deleted_at is null`}`;
  return row;
}

export async function listEmployees(
  tx: Tx,
  orgId: string,
  options: { limit: number; after?: Cursor; includeDeleted: boolean; namePrefix?: string },
): Promise<EmployeeRow[]> {
  const prefix = options.namePrefix?.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
  return tx<EmployeeRow[]>`
    select ${employeeColumns(tx)} from public.employees e
    where e.organization_id = ${orgId}
      ${options.includeDeleted ? tx`` : tx`and e.deleted_at is null`}
      ${prefix ? tx`and lower(e.name) like ${`${prefix}%`}` : tx``}
      ${options.after ? tx`and (e.created_at, e.id) < (${options.after.createdAt}::text::timestamptz, ${options.after.id}::uuid)` : tx``}
    order by e.created_at desc, e.id desc
    limit ${options.limit + 1}`;
}

export async function updateEmployee(
  tx: Tx,
  orgId: string,
  id: string,
  patch: Partial<EmployeeFields> & { deletedAt?: 'now' | null },
): Promise<number> {
  const set = (column: string, value: unknown) => (value === undefined ? tx`` : tx`${tx(column)} = ${value as never},`);
  const result = await tx`
    update public.employees set
      ${set('name', patch.name)} ${set('slug', patch.slug)} ${set('description', patch.description)}
      ${set('instructions', patch.instructions)} ${set('max_output_tokens', patch.maxOutputTokens)}
      ${patch.model === undefined ? tx`` : tx`model = ${patch.model},`}
      ${patch.tools === undefined ? tx`` : tx`tools = ${patch.tools}::text[],`}
      ${patch.deletedAt === undefined ? tx`` : patch.deletedAt === 'now' ? tx`deleted_at = now(),` : tx`deleted_at = null,`}
      updated_at = now()
    where organization_id = ${orgId} and id = ${id}`;
  return result.count;
}
