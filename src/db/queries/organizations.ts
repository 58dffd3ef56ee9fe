// SQL for organizations, memberships and profiles. Every function takes the caller's transaction: RLS applies.
import type { Tx } from '../client.js';
import type { Cursor } from '../../services/pagination.js';

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
  o.id, o.name, o.slug, public.org_role(o.id, true) as role, o.plan_id as "planId", o.default_model as "defaultModel",
  to_json(o.created_at)#>>'{}' as "createdAt", to_json(o.updated_at)#>>'{}' as "updatedAt",
  to_json(o.deleted_at)#>>'{}' as "deletedAt"`;

export async function upsertProfile(tx: Tx, user: { userId: string; email: string; name: string | null }): Promise<void> {
  await tx`
    insert into public.profiles (id, email, name) values (${user.userId}, ${user.email}, ${user.name})
    on conflict (id) do update set email = excluded.email, name = coalesce(excluded.name, public.profiles.name), updated_at = now()
    where public.profiles.email is distinct from excluded.email
       or (excluded.name is not null and public.profiles.name is distinct from excluded.name)`;
}

export async function insertOrganization(
  tx: Tx,
  org: { id: string; name: string; slug: string; defaultModel: string; createdBy: string },
): Promise<void> {
  await tx`
    insert into public.organizations (id, name, slug, default_model, created_by)
    values (${org.id}, ${org.name}, ${org.slug}, ${org.defaultModel}, ${org.createdBy})`;
  await tx`insert into public.memberships (organization_id, user_id, role) values (${org.id}, ${org.createdBy}, 'owner')`;
}

export async function findOrganization(tx: Tx, id: string, options: { includeDeleted?: boolean } = {}): Promise<OrganizationRow | undefined> {
  const [row] = await tx<OrganizationRow[]>`
    select ${organizationColumns(tx)} from public.organizations o
    where o.id = ${id} ${options.includeDeleted ? tx`` : tx`and o.deleted_at is null`}`;
  return row;
}

export async function listOrganizations(
  tx: Tx,
  options: { limit: number; after?: Cursor; includeDeleted: boolean; restoreWindowDays: number },
): Promise<OrganizationRow[]> {
  return tx<OrganizationRow[]>`
    select ${organizationColumns(tx)} from public.organizations o
    where (o.deleted_at is null
           or (${options.includeDeleted} and o.deleted_at > now() - make_interval(days => ${options.restoreWindowDays})))
      ${options.after ? tx`and (o.created_at, o.id) < (${options.after.createdAt}::text::timestamptz, ${options.after.id}::uuid)` : tx``}
    order by o.created_at desc, o.id desc
    limit ${options.limit + 1}`;
}

export async function updateOrganization(
  tx: Tx,
  id: string,
  patch: { name?: string; slug?: string; defaultModel?: string; deletedAt?: 'now' | null },
): Promise<void> {
  await tx`
    update public.organizations set
      name = coalesce(${patch.name ?? null}, name),
      slug = coalesce(${patch.slug ?? null}, slug),
      default_model = coalesce(${patch.defaultModel ?? null}, default_model),
      deleted_at = ${patch.deletedAt === undefined ? tx`deleted_at` : patch.deletedAt === 'now' ? tx`now()` : null},
      updated_at = now()
    where id = ${id}`;
}

export interface MembershipRow {
  organization: { id: string; name: string; slug: string };
  role: 'owner' | 'admin' | 'member';
  joinedAt: string;
}

export async function listMembershipsOf(tx: Tx, userId: string): Promise<MembershipRow[]> {
  return tx<MembershipRow[]>`
    select json_build_object('id', o.id, 'name', o.name, 'slug', o.slug) as organization, m.role,
           to_json(m.created_at)#>>'{}' as "joinedAt"
    from public.memberships m join public.organizations o on o.id = m.organization_id
    where m.user_id = ${userId} and o.deleted_at is null
    order by m.created_at, o.id`;
}

export async function findProfile(tx: Tx, userId: string) {
  const [row] = await tx<{ id: string; email: string; name: string | null; createdAt: string }[]>`
    select id, email, name, to_json(created_at)#>>'{}' as "createdAt" from public.profiles where id = ${userId}`;
  return row;
}
