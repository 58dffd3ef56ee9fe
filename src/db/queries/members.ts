import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';

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
export async function listMembers(tx: Tx, orgId: string, options: PageRequest & { role?: string }): Promise<MemberRow[]> {
  const page = keyset(tx, ['m.created_at', 'm.user_id'], options, 'asc');
  return tx<MemberRow[]>`
    select ${memberColumns(tx)}
    from staffroom.memberships m join staffroom.profiles p on p.id = m.user_id
    where m.organization_id = ${orgId}
      ${options.role ? tx`and m.role = ${options.role}` : tx``}
      ${page.after}
    ${page.orderAndLimit}`;
}

export async function findMember(tx: Tx, orgId: string, userId: string): Promise<MemberRow | undefined> {
  const [row] = await tx<MemberRow[]>`
    select ${memberColumns(tx)}
    from staffroom.memberships m join staffroom.profiles p on p.id = m.user_id
    where m.organization_id = ${orgId} and m.user_id = ${userId}`;
  return row;
}

/** Changes a member's role; the function enforces the role hierarchy and that an owner remains. */
export async function setMemberRole(tx: Tx, orgId: string, userId: string, role: string, requestId: string): Promise<void> {
  await tx`select staffroom.set_member_role(${orgId}, ${userId}, ${role}, ${requestId})`;
}

/** Removes a member, or lets the caller leave. */
export async function removeMember(tx: Tx, orgId: string, userId: string, requestId: string): Promise<void> {
  await tx`select staffroom.remove_member(${orgId}, ${userId}, ${requestId})`;
}
