// SQL for organizations, memberships and profiles. Every function takes the caller's transaction: RLS applies.
import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';

export interface OrganizationRow {
  id: string;
  name: string;
  slug: string;
  role: 'owner' | 'admin' | 'member';
  planId: 'free' | 'starter' | 'pro';
  defaultModel: string;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

const organizationColumns = (tx: Tx) => tx`
  o.id, o.name, o.slug, staffroom.org_role(o.id, true) as role, o.plan_id as "planId", o.default_model as "defaultModel",
  to_json(o.created_at)#>>'{}' as "createdAt", to_json(o.updated_at)#>>'{}' as "updatedAt",
  to_json(o.deleted_at)#>>'{}' as "deletedAt"`;

/** The caller's profile from their token's claims (id and email); the name is theirs to set. */
export async function syncProfile(tx: Tx, name: string | null): Promise<void> {
  await tx`select staffroom.sync_profile(${name})`;
}

/**
 * Creates the organization on the free plan with the caller as owner and its audit event; the free credits only
 * when it is the caller's first. A slug derived from the name gives way to its first free variant (`acme-2`).
 */
export async function createOrganization(
  tx: Tx,
  org: { name: string; slug: string; slugFromName: boolean; defaultModel: string; requestId: string },
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_organization(${org.name}, ${org.slug}, ${org.defaultModel}, ${org.requestId}, ${org.slugFromName}) as id`;
  return row!.id;
}

export async function findOrganization(
  tx: Tx,
  id: string,
  options: { includeDeleted?: boolean } = {},
): Promise<OrganizationRow | undefined> {
  const [row] = await tx<OrganizationRow[]>`
    select ${organizationColumns(tx)} from staffroom.organizations o
    where o.id = ${id} ${options.includeDeleted ? tx`` : tx`and o.deleted_at is null`}`;
  return row;
}

export async function listOrganizations(
  tx: Tx,
  options: PageRequest & { includeDeleted: boolean; restoreWindowDays: number },
): Promise<OrganizationRow[]> {
  const page = keyset(tx, ['o.created_at', 'o.id'], options);
  return tx<OrganizationRow[]>`
    select ${organizationColumns(tx)} from staffroom.organizations o
    where (o.deleted_at is null
           or (${options.includeDeleted} and o.deleted_at > now() - make_interval(days => ${options.restoreWindowDays})))
      ${page.after}
    ${page.orderAndLimit}`;
}

export async function updateOrganization(
  tx: Tx,
  id: string,
  patch: { name?: string; slug?: string; defaultModel?: string },
  requestId: string,
): Promise<void> {
  await tx`select staffroom.update_organization(${id}, ${patch.name ?? null}, ${patch.slug ?? null}, ${patch.defaultModel ?? null}, ${requestId})`;
}

/** Soft-deletes the organization (owners only), canceling its queued tasks. */
export async function deleteOrganization(tx: Tx, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.delete_organization(${id}, ${requestId})`;
}

export async function restoreOrganization(tx: Tx, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.restore_organization(${id}, ${requestId})`;
}

export interface MembershipRow {
  organization: { id: string; name: string; slug: string };
  role: 'owner' | 'admin' | 'member';
  joinedAt: string;
}

/**
 * The calling user's first `limit` memberships of live organizations in join order, and one more if there is
 * one: read by a definer function over an index in that order, so the cost is the page's whatever the total.
 */
export async function listCallerMemberships(tx: Tx, limit: number): Promise<MembershipRow[]> {
  return tx<MembershipRow[]>`
    select json_build_object('id', c.organization_id, 'name', c.name, 'slug', c.slug) as organization, c.role,
           to_json(c.joined_at)#>>'{}' as "joinedAt"
    from staffroom.caller_memberships(${limit + 1}) c
    order by c.joined_at, c.organization_id`;
}

export async function findProfile(tx: Tx, userId: string) {
  const [row] = await tx<{ id: string; email: string; name: string | null; createdAt: string }[]>`
    select id, email, name, to_json(created_at)#>>'{}' as "createdAt" from staffroom.profiles where id = ${userId}`;
  return row;
}
