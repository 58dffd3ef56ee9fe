import type { Tx } from '../client.js';
import type { Cursor } from '../../services/pagination.js';

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

export interface InvitationRow {
  id: string;
  email: string;
  role: 'admin' | 'member';
  status: InvitationStatus;
  invitedBy: string;
  expiresAt: string;
  createdAt: string;
  acceptedAt: string | null;
}

const statusExpression = (tx: Tx) => tx`
  case when i.accepted_at is not null then 'accepted'
       when i.revoked_at is not null then 'revoked'
       when i.expires_at <= now() then 'expired'
       else 'pending' end`;

const invitationColumns = (tx: Tx) => tx`
  i.id, i.email, i.role, ${statusExpression(tx)} as status, i.invited_by as "invitedBy",
  to_json(i.expires_at)#>>'{}' as "expiresAt", to_json(i.created_at)#>>'{}' as "createdAt",
  to_json(i.accepted_at)#>>'{}' as "acceptedAt"`;

export async function isMemberByEmail(tx: Tx, orgId: string, email: string): Promise<boolean> {
  const [row] = await tx<{ exists: boolean }[]>`
    select exists (select 1 from public.memberships m join public.profiles p on p.id = m.user_id
                   where m.organization_id = ${orgId} and lower(p.email) = ${email}) as exists`;
  return row?.exists ?? false;
}

/** Pending invitations past their expiry no longer block a new one for the same address. */
export async function expireStaleInvitation(tx: Tx, orgId: string, email: string): Promise<void> {
  await tx`update public.invitations set revoked_at = expires_at
           where organization_id = ${orgId} and email = ${email} and accepted_at is null and revoked_at is null
             and expires_at <= now()`;
}

export async function insertInvitation(
  tx: Tx,
  invitation: { orgId: string; email: string; role: string; tokenHash: string; invitedBy: string; validDays: number },
): Promise<InvitationRow> {
  const [row] = await tx<InvitationRow[]>`
    with inserted as (
      insert into public.invitations (organization_id, email, role, token_hash, invited_by, expires_at)
      values (${invitation.orgId}, ${invitation.email}, ${invitation.role}, ${invitation.tokenHash}, ${invitation.invitedBy},
              now() + make_interval(days => ${invitation.validDays}))
      returning *)
    select ${invitationColumns(tx)} from inserted i`;
  return row!;
}

export async function listInvitations(
  tx: Tx,
  orgId: string,
  options: { limit: number; after?: Cursor; status?: InvitationStatus },
): Promise<InvitationRow[]> {
  return tx<InvitationRow[]>`
    select ${invitationColumns(tx)} from public.invitations i
    where i.organization_id = ${orgId}
      ${options.status ? tx`and ${statusExpression(tx)} = ${options.status}` : tx``}
      ${options.after ? tx`and (i.created_at, i.id) < (${options.after.createdAt}::text::timestamptz, ${options.after.id}::uuid)` : tx``}
    order by i.created_at desc, i.id desc
    limit ${options.limit + 1}`;
}

export async function findInvitation(tx: Tx, orgId: string, id: string): Promise<InvitationRow | undefined> {
  const [row] = await tx<InvitationRow[]>`
    select ${invitationColumns(tx)} from public.invitations i where i.organization_id = ${orgId} and i.id = ${id}`;
  return row;
}

export async function revokeInvitation(tx: Tx, orgId: string, id: string): Promise<number> {
  const result = await tx`
    update public.invitations set revoked_at = now()
    where organization_id = ${orgId} and id = ${id} and accepted_at is null and revoked_at is null and expires_at > now()`;
  return result.count;
}

export async function acceptInvitation(tx: Tx, tokenHash: string, requestId: string) {
  const [row] = await tx<{ organizationId: string; role: 'owner' | 'admin' | 'member'; joinedAt: string }[]>`
    select organization_id as "organizationId", role, to_json(joined_at)#>>'{}' as "joinedAt"
    from public.accept_invitation(${tokenHash}, ${requestId})`;
  return row!;
}
