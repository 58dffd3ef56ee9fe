// AI employees: created from JSON or imported from an agent definition file, soft-deleted and restored.
import type { components } from '../generated/api.js';
import { ApiError, type ErrorDetail, validationError } from '../kernel/errors.js';
import { fromDatabaseError } from '../db/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Tx } from '../db/client.js';
import * as queries from '../db/queries/employees.js';
import { parseAgentDefinition, type AgentDefinition } from './agent-definition.js';
import { findModel } from './catalog.js';
import { asCaller, checkIfMatch, conflictOn, type BeforeCommit } from './context.js';
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

async function insert(tx: Tx, ctx: RequestContext, orgId: string, fields: queries.EmployeeFields): Promise<Employee> {
  const id = await queries
    .createEmployee(tx, orgId, fields, ctx.serverRequestId)
    .catch((error: unknown) =>
      conflictOn(error, slugConstraint, 'SLUG_TAKEN', 'body.slug', `An employee with the slug "${fields.slug}" exists.`),
    );
  return requireEmployee(tx, orgId, id);
}

export async function createEmployee(
  ctx: RequestContext,
  orgId: string,
  input: EmployeeCreate,
  beforeCommit?: BeforeCommit<Employee>,
): Promise<Employee> {
  checkModel(input.model, 'body.model');
  return asCaller(
    ctx,
    async (tx) => {
      await requireWriter(tx, orgId);
      return insert(tx, ctx, orgId, {
        name: input.name,
        slug: input.slug ?? slugify(input.name),
        description: input.description ?? '',
        instructions: input.instructions,
        model: input.model ?? null,
        tools: [...new Set(input.tools ?? [])],
        maxOutputTokens: input.maxOutputTokens ?? 4096,
        maxSteps: input.maxSteps ?? 20,
      });
    },
    { beforeCommit },
  );
}

type EmployeeImportResult = components['schemas']['EmployeeImportResult'];

/**
 * Imports each file on its own, as importEmployee does, and answers per file: a refused file is a result
 * with its status and error, not a failure of the batch. Anything unexpected still fails the request.
 */
export async function importEmployees(
  ctx: RequestContext,
  orgId: string,
  files: { name: string; content: string }[],
  overwrite: boolean,
): Promise<EmployeeImportResult[]> {
  const results: EmployeeImportResult[] = [];
  for (const file of files) {
    try {
      const { employee, warnings } = await importEmployee(ctx, orgId, file.content, overwrite);
      results.push({ file: file.name, status: 201, employee, warnings });
    } catch (error) {
      const refused = error instanceof ApiError && error.status < 500 ? error : fromDatabaseError(error);
      if (!refused || refused.status >= 500) throw error;
      results.push({
        file: file.name,
        status: refused.status,
        warnings: [],
        error: { code: refused.code, message: refused.message, ...(refused.details?.length ? { details: refused.details } : {}) },
      });
    }
  }
  return results;
}

/** Hires (or, with `overwrite`, updates) the employee an agent file defines; `warnings` say what it could not use. */
export async function importEmployee(
  ctx: RequestContext,
  orgId: string,
  markdown: string,
  overwrite: boolean,
  beforeCommit?: BeforeCommit<{ employee: Employee; warnings: ErrorDetail[] }>,
): Promise<{ employee: Employee; warnings: ErrorDetail[] }> {
  const agent: AgentDefinition = await parseAgentDefinition(markdown);
  // A model whose provider this deployment cannot call would fail every task: the organization's default runs
  // them instead, and the answer says so.
  const provider = agent.model ? findModel(agent.model)?.provider : undefined;
  if (provider && ctx.deps.providers && !ctx.deps.providers.has(provider)) {
    agent.warnings.push({
      field: 'frontMatter.model',
      message: `${agent.model} runs on ${provider}, which this deployment is not configured for: the employee uses the organization's default model (configure ${provider}, then set the employee's model)`,
    });
    agent.model = null;
  }
  const employee = await asCaller(
    ctx,
    async (tx) => {
      await requireWriter(tx, orgId);
      const existing = await queries.findEmployee(tx, orgId, { slug: agent.slug });
      if (existing && !overwrite) {
        throw new ApiError('SLUG_TAKEN', `An employee with the slug "${agent.slug}" exists; import with overwrite=true to update it.`, [
          { field: 'frontMatter.name', message: 'already in use' },
        ]);
      }
      const fields = {
        name: agent.name,
        description: agent.description,
        instructions: agent.instructions,
        model: agent.model,
        tools: agent.tools,
      };
      if (!existing) {
        const created = await insert(tx, ctx, orgId, { ...fields, slug: agent.slug, maxOutputTokens: 4096 });
        if (Object.keys(agent.frontMatter).length === 0) return created;
        await queries.updateEmployee(tx, orgId, created.id, { frontMatter: agent.frontMatter }, ctx.serverRequestId);
        return requireEmployee(tx, orgId, created.id);
      }
      await queries.updateEmployee(tx, orgId, existing.id, { ...fields, frontMatter: agent.frontMatter }, ctx.serverRequestId);
      return requireEmployee(tx, orgId, existing.id);
    },
    { beforeCommit: beforeCommit && ((tx, made) => beforeCommit(tx, { employee: made, warnings: agent.warnings })) },
  );
  return { employee, warnings: agent.warnings };
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

export async function updateEmployee(
  ctx: RequestContext,
  orgId: string,
  employeeId: string,
  patch: EmployeeUpdate,
  ifMatch?: string,
): Promise<Employee> {
  checkModel(patch.model, 'body.model');
  return asCaller(
    ctx,
    async (tx) => {
      await requireWriter(tx, orgId);
      checkIfMatch(ifMatch, await requireEmployee(tx, orgId, employeeId));
      await queries
        .updateEmployee(
          tx,
          orgId,
          employeeId,
          { ...patch, tools: patch.tools ? [...new Set(patch.tools)] : undefined },
          ctx.serverRequestId,
        )
        .catch((error: unknown) =>
          conflictOn(error, slugConstraint, 'SLUG_TAKEN', 'body.slug', `An employee with the slug "${patch.slug}" exists.`),
        );
      return requireEmployee(tx, orgId, employeeId);
    },
    { serializable: ifMatch !== undefined },
  );
}

export async function deleteEmployee(ctx: RequestContext, orgId: string, employeeId: string): Promise<Employee> {
  return asCaller(ctx, async (tx) => {
    await requireWriter(tx, orgId);
    await requireEmployee(tx, orgId, employeeId);
    await queries.deleteEmployee(tx, orgId, employeeId, ctx.serverRequestId); // its queued tasks are canceled; a running one finishes
    return requireEmployee(tx, orgId, employeeId, true);
  });
}

export async function restoreEmployee(ctx: RequestContext, orgId: string, employeeId: string): Promise<Employee> {
  return asCaller(ctx, async (tx) => {
    await requireWriter(tx, orgId);
    const employee = await requireEmployee(tx, orgId, employeeId, true);
    await queries
      .restoreEmployee(tx, orgId, employeeId, ctx.serverRequestId)
      .catch((error: unknown) =>
        conflictOn(
          error,
          slugConstraint,
          'SLUG_TAKEN',
          'slug',
          `The slug "${employee.slug}" was reused meanwhile; rename that employee first.`,
        ),
      );
    return requireEmployee(tx, orgId, employeeId);
  });
}
