// Organizations: create (the caller becomes owner), read, rename, soft delete and restore within 30 days.
import { randomBytes } from 'node:crypto';
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import * as queries from '../db/queries/organizations.js';
export type { OrganizationRow } from '../db/queries/organizations.js';
import { defaultModelId, findModel } from './catalog.js';
import { asCaller, checkIfMatch, conflictOn, ensureProfile, userOf, type BeforeCommit } from './context.js';
import { paginate } from './pagination.js';
import type { Tx } from '../db/client.js';

type Organization = components['schemas']['Organization'];
type OrganizationCreate = components['schemas']['OrganizationCreate'];
type OrganizationUpdate = components['schemas']['OrganizationUpdate'];

// The same window as staffroom.restore_organization() enforces; a deleted organization holds its slug as long.
export const restoreWindowDays = 30;
const slugConstraint = 'organizations_slug_held_key';

export function slugify(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return base.length >= 2 ? base : `org-${randomBytes(3).toString('hex')}`;
}

function checkModel(model: string | undefined, field: string): void {
  if (model !== undefined && !findModel(model)) throw validationError(field, `"${model}" is not a model from listModels`);
}

export async function createOrganization(
  ctx: RequestContext,
  input: OrganizationCreate,
  beforeCommit?: BeforeCommit<Organization>,
): Promise<Organization> {
  const user = userOf(ctx);
  checkModel(input.defaultModel, 'body.defaultModel');
  const slug = input.slug ?? slugify(input.name);
  return asCaller(
    ctx,
    async (tx) => {
      await ensureProfile(tx, user);
      const id = await queries
        .createOrganization(tx, {
          name: input.name,
          slug,
          // Only a slug the client chose can be taken; one derived from the name becomes its first free variant.
          slugFromName: input.slug === undefined,
          defaultModel: input.defaultModel ?? defaultModelId,
          requestId: ctx.serverRequestId,
        })
        .catch((error: unknown) => conflictOn(error, slugConstraint, 'SLUG_TAKEN', 'body.slug', `The slug "${slug}" is taken.`));
      ctx.log.info({ organizationId: id }, 'organization created');
      return (await queries.findOrganization(tx, id))!;
    },
    { beforeCommit },
  );
}

export async function listOrganizations(
  ctx: RequestContext,
  query: { limit?: number; cursor?: string; includeDeleted?: boolean },
): Promise<{ items: Organization[]; nextCursor: string | null }> {
  userOf(ctx);
  // RLS shows deleted organizations to their owners only; they are listed on request.
  return paginate(query, (page) =>
    asCaller(ctx, (tx) => queries.listOrganizations(tx, { ...page, includeDeleted: query.includeDeleted ?? false, restoreWindowDays })),
  );
}

/** The organization and the caller's role in it, or 404 when the caller cannot see it. */
export async function requireOrganization(
  tx: Tx,
  orgId: string,
  options: { includeDeleted?: boolean } = {},
): Promise<queries.OrganizationRow> {
  const org = await queries.findOrganization(tx, orgId, options);
  if (!org || !org.role) throw new ApiError('NOT_FOUND', 'Organization not found.');
  return org;
}

export function requireRole(org: { role: string }, allowed: readonly string[], action: string): void {
  if (!allowed.includes(org.role)) throw new ApiError('FORBIDDEN', `Only ${allowed.join(' and ')}s can ${action}.`);
}

export async function getOrganization(ctx: RequestContext, orgId: string): Promise<Organization> {
  return asCaller(ctx, (tx) => requireOrganization(tx, orgId));
}

export async function updateOrganization(
  ctx: RequestContext,
  orgId: string,
  patch: OrganizationUpdate,
  ifMatch?: string,
): Promise<Organization> {
  userOf(ctx); // API keys act inside an organization; they do not manage it
  checkModel(patch.defaultModel, 'body.defaultModel');
  return asCaller(
    ctx,
    async (tx) => {
      const current = await requireOrganization(tx, orgId);
      requireRole(current, ['owner', 'admin'], 'change the organization');
      checkIfMatch(ifMatch, current);
      await queries
        .updateOrganization(tx, orgId, patch, ctx.serverRequestId)
        .catch((error: unknown) => conflictOn(error, slugConstraint, 'SLUG_TAKEN', 'body.slug', `The slug "${patch.slug}" is taken.`));
      return (await queries.findOrganization(tx, orgId))!;
    },
    { serializable: ifMatch !== undefined },
  );
}

export async function deleteOrganization(ctx: RequestContext, orgId: string): Promise<Organization> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    requireRole(await requireOrganization(tx, orgId), ['owner'], 'delete the organization');
    await queries.deleteOrganization(tx, orgId, ctx.serverRequestId);
    return (await queries.findOrganization(tx, orgId, { includeDeleted: true }))!;
  });
}

export async function restoreOrganization(ctx: RequestContext, orgId: string): Promise<Organization> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId, { includeDeleted: true });
    requireRole(org, ['owner'], 'restore the organization');
    // A deleted organization holds its slug; only a concurrent request racing for the same free variant fails here.
    await queries
      .restoreOrganization(tx, orgId, ctx.serverRequestId)
      .catch((error: unknown) =>
        conflictOn(
          error,
          slugConstraint,
          'SLUG_TAKEN',
          'slug',
          `Another organization took the slug "${org.slug}" meanwhile; restore again.`,
        ),
      );
    return (await queries.findOrganization(tx, orgId))!;
  });
}
