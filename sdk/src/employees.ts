// Hiring an employee from an agent definition file (Markdown with YAML front matter), sent as it is.
import type { components } from './generated/api.js';
import type { StaffroomClient } from './client.js';
import { StaffroomError } from './errors.js';

export type Employee = components['schemas']['Employee'];

/** An imported employee, and what of its agent file it could not use as written. */
export interface ImportedEmployee {
  employee: Employee;
  /** Each names the front-matter field and what became of it (a model this deployment cannot run: `null`). */
  warnings: components['schemas']['ErrorDetail'][];
}

/**
 * Imports an agent file as an employee (`importEmployee`): 201 for a new one; with `overwrite`, the employee
 * with the same slug is updated instead of a 409 `SLUG_TAKEN`. Resolves with the employee and the `warnings`
 * about what was mapped or left out (show them: a model this deployment cannot run becomes `null`); throws
 * StaffroomError.
 */
export async function importEmployee(
  client: StaffroomClient,
  orgId: string,
  markdown: string,
  options: { overwrite?: boolean; signal?: AbortSignal } = {},
): Promise<ImportedEmployee> {
  const { data, error, response } = await client.POST('/v1/organizations/{orgId}/employees/import', {
    params: { path: { orgId }, query: options.overwrite === undefined ? {} : { overwrite: options.overwrite } },
    body: markdown,
    headers: { 'Content-Type': 'text/markdown' },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!data) throw StaffroomError.fromResponse(response, error);
  return { employee: data.data, warnings: data.warnings };
}
