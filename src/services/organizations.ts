// Organizations: create (the caller becomes owner), read, rename, soft delete and restore within 30 days.
import { randomBytes, randomUUID } from 'node:crypto';
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../http/errors.js';
import type { RequestContext } from '../http/types.js';
import * as queries from '../db/queries/organizations.js';
export type { OrganizationRow } from '../db/queries/organizations.js';
import { insertAuditEvent } from '../db/queries/audit.js';
import { defaultModelId, findModel } from './catalog.js';
import { actorOf, asCaller, conflictOn, ensureProfile, userOf } from './context.js';
import { paginate } from './pagination.js';
import { grantFreeCreditsForThisMonth } from './credits.js';
import { cancelQueuedTasks } from '../db/queries/tasks.js';
import type { Tx } from '../db/client.js';

type Organization = components['schemas']['Organization'];
type OrganizationCreate = components['schemas']['OrganizationCreate'];
type OrganizationUpdate = components['schemas']['OrganizationUpdate'];

export const restoreWindowDays = 30;
const slugConstraint = 'organizations_slug_live_key';

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

export async function createOrganization(ctx: RequestContext, input: OrganizationCreate): Promise<Organization> {
  const user = userOf(ctx);
  checkModel(input.defaultModel, 'body.defaultModel');
  const id = randomUUID();
  const slug = input.slug ?? slugify(input.name);
  return asCaller(ctx, async (tx) => {
    await ensureProfile(tx, user);
    await queries
      .insertOrganization(tx, { id, name: input.name, slug, defaultModel: input.defaultModel ?? defaultModelId, createdBy: user.userId })
      .catch((error: unknown) => conflictOn(error, slugConstraint, 'body.slug', `The slug "${slug}" is taken.`));
    await grantFreeCreditsForThisMonth(tx, id);
    const org = (await queries.findOrganization(tx, id))!;
    await insertAuditEvent(tx, {
      organizationId: id,
      actor: actorOf(ctx),
      action: 'organization.created',
      targetType: 'organization',
      targetId: id,
      after: { name: org.name, slug: org.slug, defaultModel: org.defaultModel },
      requestId: ctx.requestId,
    });
    ctx.log.info({ organizationId: id }, 'organization created');
    return org;
  });
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
export async function requireOrganization(tx: Tx, orgId: string, options: { includeDeleted?: boolean } = {}): Promise<queries.OrganizationRow> {
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

export async function updateOrganization(ctx: RequestContext, orgId: string, patch: OrganizationUpdate): Promise<Organization> {
  userOf(ctx); // API keys act inside an organization; they do not manage it
  checkModel(patch.defaultModel, 'body.defaultModel');
  return asCaller(ctx, async (tx) => {
    const before = await requireOrganization(tx, orgId);
    requireRole(before, ['owner', 'admin'], 'change the organization');
    await queries
      .updateOrganization(tx, orgId, patch)
      .catch((error: unknown) => conflictOn(error, slugConstraint, 'body.slug', `The slug "${patch.slug}" is taken.`));
    const after = (await queries.findOrganization(tx, orgId))!;
    const changed = (['name', 'slug', 'defaultModel'] as const).filter((k) => before[k] !== after[k]);
    if (changed.length) {
      await insertAuditEvent(tx, {
        organizationId: orgId,
        actor: actorOf(ctx),
        action: 'organization.updated',
        targetType: 'organization',
        targetId: orgId,
        before: Object.fromEntries(changed.map((k) => [k, before[k]])),
        after: Object.fromEntries(changed.map((k) => [k, after[k]])),
        requestId: ctx.requestId,
      });
    }
    return after;
  });
}

export async function deleteOrganization(ctx: RequestContext, orgId: string): Promise<Organization> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    requireRole(org, ['owner'], 'delete the organization');
    // Before the deletion: once deleted, the organization's tasks are no longer the caller's to cancel.
    await cancelQueuedTasks(tx, orgId);
    await queries.updateOrganization(tx, orgId, { deletedAt: 'now' });
    await insertAuditEvent(tx, {
      organizationId: orgId,
      actor: actorOf(ctx),
      action: 'organization.deleted',
      targetType: 'organization',
      targetId: orgId,
      requestId: ctx.requestId,
    });
    return (await queries.findOrganization(tx, orgId, { includeDeleted: true }))!;
  });
}

export async function restoreOrganization(ctx: RequestContext, orgId: string): Promise<Organization> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId, { includeDeleted: true });
    requireRole(org, ['owner'], 'restore the organization');
    if (!org.deletedAt) throw new ApiError('CONFLICT', 'The organization is not deleted.');
    if (Date.parse(org.deletedAt) < Date.now() - restoreWindowDays * 86_400_000) {
      throw new ApiError('NOT_FOUND', 'Organization not found.');
    }
    await queries
      .updateOrganization(tx, orgId, { deletedAt: null })
      .catch((error: unknown) =>
        conflictOn(error, slugConstraint, 'slug', `The slug "${org.slug}" was taken meanwhile; restore is not possible until it is free.`),
      );
    await insertAuditEvent(tx, {
      organizationId: orgId,
      actor: actorOf(ctx),
      action: 'organization.restored',
      targetType: 'organization',
      targetId: orgId,
      requestId: ctx.requestId,
    });
    return (await queries.findOrganization(tx, orgId))!;
  });
}
