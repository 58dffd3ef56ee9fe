// Hiring an employee from an agent definition file (Markdown with YAML front matter), sent as it is.
import type { components } from './generated/api.js';
import type { StaffroomClient } from './client.js';
import { unwrap } from './errors.js';

export type Employee = components['schemas']['Employee'];

/**
 * Imports an agent file as an employee (`importEmployee`): 201 for a new one; with `overwrite`, the employee
 * with the same slug is updated instead of a 409 `SLUG_TAKEN`. Resolves with the employee and the `warnings`
 * about what was mapped or left out; throws StaffroomError.
 */
export async function importEmployee(
  client: StaffroomClient,
  orgId: string,
  markdown: string,
  options: { overwrite?: boolean; signal?: AbortSignal } = {},
) {
  return unwrap(
    client.POST('/v1/organizations/{orgId}/employees/import', {
      params: { path: { orgId }, query: options.overwrite === undefined ? {} : { overwrite: options.overwrite } },
      body: markdown,
      headers: { 'Content-Type': 'text/markdown' },
      ...(options.signal ? { signal: options.signal } : {}),
    }),
  );
}
