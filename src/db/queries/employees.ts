import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';
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
  maxSteps?: number;
  /** Keys of its agent file the service does not use, kept for export. */
  frontMatter?: Record<string, unknown>;
}

const employeeColumns = (tx: Tx) => tx`
  e.id, e.organization_id as "organizationId", e.name, e.slug, e.description, e.instructions, e.model, e.tools,
  array(select n from unnest(e.tools) with ordinality u(n, i)
        where not exists (select 1 from staffroom.built_in_tools b where b.name = n)
          and not exists (select 1 from staffroom.tools x where x.organization_id = e.organization_id and x.name = n)
        order by i) as "unavailableTools",
  e.max_output_tokens as "maxOutputTokens", e.max_steps as "maxSteps", e.front_matter as "frontMatter", to_json(e.created_at)#>>'{}' as "createdAt",
  to_json(e.updated_at)#>>'{}' as "updatedAt", to_json(e.deleted_at)#>>'{}' as "deletedAt"`;

/** Hires an employee: the function checks the caller and the plan's limit (under a per-organization lock). */
export async function createEmployee(tx: Tx, orgId: string, fields: EmployeeFields, requestId: string): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_employee(${orgId}, ${fields.name}, ${fields.slug}, ${fields.description}, ${fields.instructions},
                                     ${fields.model}, ${fields.tools}::text[], ${fields.maxOutputTokens}, ${fields.maxSteps ?? null}::integer, ${requestId}) as id`;
  return row!.id;
}

export async function findEmployee(
  tx: Tx,
  orgId: string,
  where: { id: string } | { slug: string },
  options: { includeDeleted?: boolean } = {},
): Promise<EmployeeRow | undefined> {
  const [row] = await tx<EmployeeRow[]>`
    select ${employeeColumns(tx)} from staffroom.employees e
    where e.organization_id = ${orgId}
      and ${'id' in where ? tx`e.id = ${where.id}` : tx`e.slug = ${where.slug} and e.deleted_at is null`}
      ${options.includeDeleted ? tx`` : tx`and e.deleted_at is null`}`;
  return row;
}

export async function listEmployees(
  tx: Tx,
  orgId: string,
  options: PageRequest & { includeDeleted: boolean; namePrefix?: string },
): Promise<EmployeeRow[]> {
  const prefix = options.namePrefix?.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
  const page = keyset(tx, ['e.created_at', 'e.id'], options);
  return tx<EmployeeRow[]>`
    select ${employeeColumns(tx)} from staffroom.employees e
    where e.organization_id = ${orgId}
      ${options.includeDeleted ? tx`` : tx`and e.deleted_at is null`}
      ${prefix ? tx`and lower(e.name) like ${`${prefix}%`}` : tx``}
      ${page.after}
    ${page.orderAndLimit}`;
}

/** Changes the fields present in `patch` (a null model means the organization's default). */
export async function updateEmployee(tx: Tx, orgId: string, id: string, patch: Partial<EmployeeFields>, requestId: string): Promise<void> {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
  await tx`select staffroom.update_employee(${orgId}, ${id}, ${tx.json(defined as never)}, ${requestId})`;
}

/** Soft-deletes the employee, canceling its queued tasks. */
export async function deleteEmployee(tx: Tx, orgId: string, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.delete_employee(${orgId}, ${id}, ${requestId})`;
}

export async function restoreEmployee(tx: Tx, orgId: string, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.restore_employee(${orgId}, ${id}, ${requestId})`;
}
