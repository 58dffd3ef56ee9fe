import type { Tx } from '../client.js';
import type { Cursor } from '../../services/pagination.js';

export interface MemberRow {
  userId: string;
  email: string;
  name: string | null;
  role: 'owner' | 'admin' | 'member';
  joinedAt: string;
}

const memberColumns = (tx: Tx) => tx`
  m.user_id as "userId", p.email, p.name, m.role, to_json(m.created_at)#>>'{}' as "joinedAt"`;

/** Members in the order they joined; the cursor is (joinedAt, userId) of the last one. */
export async function listMembers(
  tx: Tx,
  orgId: string,
  options: { limit: number; after?: Cursor; role?: string },
): Promise<MemberRow[]> {
  return tx<MemberRow[]>`
    select ${memberColumns(tx)}
    from public.memberships m join public.profiles p on p.id = m.user_id
    where m.organization_id = ${orgId}
      ${options.role ? tx`and m.role = ${options.role}` : tx``}
      ${options.after ? tx`and (m.created_at, m.user_id) > (${options.after.createdAt}::text::timestamptz, ${options.after.id}::uuid)` : tx``}
    order by m.created_at, m.user_id
    limit ${options.limit + 1}`;
}

export async function findMember(tx: Tx, orgId: string, userId: string): Promise<MemberRow | undefined> {
  const [row] = await tx<MemberRow[]>`
    select ${memberColumns(tx)}
    from public.memberships m join public.profiles p on p.id = m.user_id
    where m.organization_id = ${orgId} and m.user_id = ${userId}`;
  return row;
}

/** Returns how many rows changed: 0 when RLS no longer lets the caller change it. */
export async function setMemberRole(tx: Tx, orgId: string, userId: string, role: string): Promise<number> {
  const result = await tx`update public.memberships set role = ${role} where organization_id = ${orgId} and user_id = ${userId}`;
  return result.count;
}

export async function deleteMember(tx: Tx, orgId: string, userId: string): Promise<number> {
  const result = await tx`delete from public.memberships where organization_id = ${orgId} and user_id = ${userId}`;
  return result.count;
}
