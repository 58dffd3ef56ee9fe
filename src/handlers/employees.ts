import type { components } from '../generated/api.js';
import { keptWith } from '../http/idempotency.js';
import type { Handler, HandlerResult } from '../http/types.js';
import type { ErrorDetail } from '../kernel/errors.js';
import * as employees from '../services/employees.js';
import { exportAgentDefinition } from '../services/agent-definition.js';
import { prefers } from '../http/negotiation.js';

const markdownType = 'text/markdown; charset=utf-8';

export const listEmployees: Handler<'listEmployees'> = async (req, ctx) => {
  const page = await employees.listEmployees(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

type Employee = components['schemas']['Employee'];

export const createEmployee: Handler<'createEmployee'> = async (req, ctx) => {
  const respond = (employee: Employee): HandlerResult<'createEmployee'> => ({
    status: 201,
    body: employee,
    headers: { Location: `/v1/organizations/${req.params.orgId}/employees/${employee.id}` },
  });
  return respond(await employees.createEmployee(ctx, req.params.orgId, req.body, keptWith(ctx, respond)));
};

export const importEmployee: Handler<'importEmployee'> = async (req, ctx) => {
  const respond = ({ employee, warnings }: { employee: Employee; warnings: ErrorDetail[] }): HandlerResult<'importEmployee'> => ({
    status: 201,
    body: employee,
    warnings,
    headers: { Location: `/v1/organizations/${req.params.orgId}/employees/${employee.id}` },
  });
  const overwrite = req.query.overwrite ?? false;
  // The file as the body (`text/markdown`), or inside JSON for clients that send only JSON.
  const markdown = typeof req.body === 'string' ? req.body : req.body.content;
  return respond(await employees.importEmployee(ctx, req.params.orgId, markdown, overwrite, keptWith(ctx, respond)));
};

export const importEmployees: Handler<'importEmployees'> = async (req, ctx) => ({
  status: 200,
  // The core reads a multipart body into the JSON body's shape (http/request.ts), and validates it as such.
  body: await employees.importEmployees(
    ctx,
    req.params.orgId,
    req.body.files as { name: string; content: string }[],
    req.query.overwrite ?? false,
  ),
});

export const getEmployee: Handler<'getEmployee'> = async (req, ctx) => {
  const employee = await employees.getEmployee(ctx, req.params.orgId, req.params.employeeId, req.query.includeDeleted ?? false);
  const headers = { Vary: 'Accept' }; // JSON or the agent file, by Accept: caches must keep them apart
  if (!prefers(req.accept, 'text/markdown')) return { status: 200, body: employee, headers };
  return {
    status: 200,
    body: employee,
    headers,
    representation: { contentType: markdownType, text: await exportAgentDefinition(employee) },
  };
};

export const updateEmployee: Handler<'updateEmployee'> = async (req, ctx) => ({
  status: 200,
  body: await employees.updateEmployee(ctx, req.params.orgId, req.params.employeeId, req.body, req.headers['If-Match']),
});

export const deleteEmployee: Handler<'deleteEmployee'> = async (req, ctx) => ({
  status: 200,
  body: await employees.deleteEmployee(ctx, req.params.orgId, req.params.employeeId),
});

export const restoreEmployee: Handler<'restoreEmployee'> = async (req, ctx) => ({
  status: 200,
  body: await employees.restoreEmployee(ctx, req.params.orgId, req.params.employeeId),
});
