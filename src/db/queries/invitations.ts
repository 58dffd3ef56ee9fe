import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';

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

/** Invites an email for 7 days; the function checks the caller and that the address is not a member yet. */
export async function createInvitation(
  tx: Tx,
  invitation: { orgId: string; email: string; role: string; tokenHash: string; requestId: string },
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_invitation(${invitation.orgId}, ${invitation.email}, ${invitation.role}, ${invitation.tokenHash},
                                       ${invitation.requestId}) as id`;
  return row!.id;
}

export async function listInvitations(
  tx: Tx,
  orgId: string,
  options: PageRequest & { status?: InvitationStatus },
): Promise<InvitationRow[]> {
  const page = keyset(tx, ['i.created_at', 'i.id'], options);
  return tx<InvitationRow[]>`
    select ${invitationColumns(tx)} from staffroom.invitations i
    where i.organization_id = ${orgId}
      ${options.status ? tx`and ${statusExpression(tx)} = ${options.status}` : tx``}
      ${page.after}
    ${page.orderAndLimit}`;
}

export async function findInvitation(tx: Tx, orgId: string, id: string): Promise<InvitationRow | undefined> {
  const [row] = await tx<InvitationRow[]>`
    select ${invitationColumns(tx)} from staffroom.invitations i where i.organization_id = ${orgId} and i.id = ${id}`;
  return row;
}

export async function revokeInvitation(tx: Tx, orgId: string, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.revoke_invitation(${orgId}, ${id}, ${requestId})`;
}

/** Accepts for the calling user; returns the organization joined. */
export async function acceptInvitation(tx: Tx, tokenHash: string, requestId: string): Promise<string> {
  const [row] = await tx<{ id: string }[]>`select staffroom.accept_invitation(${tokenHash}, ${requestId}) as id`;
  return row!.id;
}
