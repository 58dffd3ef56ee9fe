// AI employees: created from JSON or imported from an agent definition file, soft-deleted and restored.
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../http/errors.js';
import type { RequestContext } from '../http/types.js';
import type { Tx } from '../db/client.js';
import * as queries from '../db/queries/employees.js';
import { insertAuditEvent } from '../db/queries/audit.js';
import { cancelQueuedTasks } from '../db/queries/tasks.js';
import { parseAgentDefinition, type AgentDefinition } from './agent-definition.js';
import { findModel, plans } from './catalog.js';
import { actorOf, asCaller, conflictOn } from './context.js';
import { requireOrganization, requireRole, slugify, type OrganizationRow } from './organizations.js';
import { paginate } from './pagination.js';

type Employee = components['schemas']['Employee'];
type EmployeeCreate = components['schemas']['EmployeeCreate'];
type EmployeeUpdate = components['schemas']['EmployeeUpdate'];

const slugConstraint = 'employees_organization_slug_live_key';
const writers = ['owner', 'admin'] as const;

function checkModel(model: string | null | undefined, field: string): void {
  if (model !== undefined && model !== null && !findModel(model)) throw validationError(field, `"${model}" is not a model from listModels`);
}

async function requireWriter(tx: Tx, orgId: string): Promise<OrganizationRow> {
  const org = await requireOrganization(tx, orgId);
  requireRole(org, writers, 'manage employees');
  return org;
}

async function requireEmployee(tx: Tx, orgId: string, employeeId: string, includeDeleted = false): Promise<Employee> {
  const employee = await queries.findEmployee(tx, orgId, { id: employeeId }, { includeDeleted });
  if (!employee) throw new ApiError('NOT_FOUND', 'Employee not found.');
  return employee;
}

async function checkPlanLimit(tx: Tx, org: OrganizationRow): Promise<void> {
  const limit = plans.find((p) => p.id === org.planId)?.limits.employees ?? 0;
  if ((await queries.lockEmployeeCount(tx, org.id)) >= limit) {
    throw new ApiError('CONFLICT', `The ${org.planId} plan allows ${limit} employees; delete one or upgrade the plan.`);
  }
}

async function audit(tx: Tx, ctx: RequestContext, orgId: string, action: string, employeeId: string, change: { before?: object; after?: object } = {}) {
  await insertAuditEvent(tx, {
    organizationId: orgId,
    actor: actorOf(ctx),
    action,
    targetType: 'employee',
    targetId: employeeId,
    before: (change.before as Record<string, unknown>) ?? null,
    after: (change.after as Record<string, unknown>) ?? null,
    requestId: ctx.requestId,
  });
}

async function insert(tx: Tx, ctx: RequestContext, org: OrganizationRow, fields: queries.EmployeeFields): Promise<Employee> {
  await checkPlanLimit(tx, org);
  const employee = await queries
    .insertEmployee(tx, org.id, fields)
    .catch((error: unknown) => conflictOn(error, slugConstraint, 'body.slug', `An employee with the slug "${fields.slug}" exists.`));
  await audit(tx, ctx, org.id, 'employee.created', employee.id, { after: { name: employee.name, slug: employee.slug, model: employee.model } });
  return employee;
}

export async function createEmployee(ctx: RequestContext, orgId: string, input: EmployeeCreate): Promise<Employee> {
  checkModel(input.model, 'body.model');
  return asCaller(ctx, async (tx) => {
    const org = await requireWriter(tx, orgId);
    return insert(tx, ctx, org, {
      name: input.name,
      slug: input.slug ?? slugify(input.name),
      description: input.description ?? '',
      instructions: input.instructions,
      model: input.model ?? null,
      tools: [...new Set(input.tools ?? [])],
      maxOutputTokens: input.maxOutputTokens ?? 4096,
    });
  });
}

export async function importEmployee(ctx: RequestContext, orgId: string, markdown: string, overwrite: boolean): Promise<Employee> {
  const agent: AgentDefinition = parseAgentDefinition(markdown);
  return asCaller(ctx, async (tx) => {
    const org = await requireWriter(tx, orgId);
    const existing = await queries.findEmployee(tx, orgId, { slug: agent.slug });
    if (existing && !overwrite) {
      throw new ApiError('CONFLICT', `An employee with the slug "${agent.slug}" exists; import with overwrite=true to update it.`, [
        { field: 'frontMatter.name', message: 'already in use' },
      ]);
    }
    const fields = { name: agent.name, description: agent.description, instructions: agent.instructions, model: agent.model, tools: agent.tools };
    if (!existing) return insert(tx, ctx, org, { ...fields, slug: agent.slug, maxOutputTokens: 4096 });
    await queries.updateEmployee(tx, orgId, existing.id, fields);
    await audit(tx, ctx, orgId, 'employee.updated', existing.id, { after: { imported: true } });
    return requireEmployee(tx, orgId, existing.id);
  });
}

export async function listEmployees(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; includeDeleted?: boolean; q?: string },
): Promise<{ items: Employee[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireOrganization(tx, orgId);
      return queries.listEmployees(tx, orgId, { ...page, includeDeleted: query.includeDeleted ?? false, namePrefix: query.q });
    }),
  );
}

export async function getEmployee(ctx: RequestContext, orgId: string, employeeId: string, includeDeleted = false): Promise<Employee> {
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    return requireEmployee(tx, orgId, employeeId, includeDeleted);
  });
}

export async function updateEmployee(ctx: RequestContext, orgId: string, employeeId: string, patch: EmployeeUpdate): Promise<Employee> {
  checkModel(patch.model, 'body.model');
  return asCaller(ctx, async (tx) => {
    await requireWriter(tx, orgId);
    const before = await requireEmployee(tx, orgId, employeeId);
    await queries
      .updateEmployee(tx, orgId, employeeId, { ...patch, tools: patch.tools ? [...new Set(patch.tools)] : undefined })
      .catch((error: unknown) => conflictOn(error, slugConstraint, 'body.slug', `An employee with the slug "${patch.slug}" exists.`));
    const after = await requireEmployee(tx, orgId, employeeId);
    const changed = (Object.keys(patch) as (keyof EmployeeUpdate)[]).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    if (changed.length) {
      const pick = (e: Employee) => Object.fromEntries(changed.map((k) => [k, k === 'instructions' ? `${e[k].length} characters` : e[k]]));
      await audit(tx, ctx, orgId, 'employee.updated', employeeId, { before: pick(before), after: pick(after) });
    }
    return after;
  });
}

export async function deleteEmployee(ctx: RequestContext, orgId: string, employeeId: string): Promise<Employee> {
  return asCaller(ctx, async (tx) => {
    await requireWriter(tx, orgId);
    await requireEmployee(tx, orgId, employeeId);
    await queries.updateEmployee(tx, orgId, employeeId, { deletedAt: 'now' });
    const canceled = await cancelQueuedTasks(tx, orgId, employeeId); // a running task finishes
    await audit(tx, ctx, orgId, 'employee.deleted', employeeId, { after: { canceledTasks: canceled } });
    return requireEmployee(tx, orgId, employeeId, true);
  });
}

export async function restoreEmployee(ctx: RequestContext, orgId: string, employeeId: string): Promise<Employee> {
  return asCaller(ctx, async (tx) => {
    const org = await requireWriter(tx, orgId);
    const employee = await requireEmployee(tx, orgId, employeeId, true);
    if (!employee.deletedAt) throw new ApiError('CONFLICT', 'The employee is not deleted.');
    await checkPlanLimit(tx, org);
    await queries
      .updateEmployee(tx, orgId, employeeId, { deletedAt: null })
      .catch((error: unknown) =>
        conflictOn(error, slugConstraint, 'slug', `The slug "${employee.slug}" was reused meanwhile; rename that employee first.`),
      );
    await audit(tx, ctx, orgId, 'employee.restored', employeeId);
    return requireEmployee(tx, orgId, employeeId);
  });
}
