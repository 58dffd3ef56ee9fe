import type { Claims } from '../db/client.js';

/** Who a request acts for, resolved by the security handlers; services take it from the context. */
export type Caller =
  | { kind: 'user'; userId: string; email: string; name: string | null; claims: Claims }
  | { kind: 'api_key'; keyId: string; organizationId: string; claims: Claims };

export function userClaims(user: { userId: string; email: string }, tokenClaims: Record<string, unknown>): Claims {
  return { ...tokenClaims, sub: user.userId, email: user.email, role: 'authenticated' };
}

export function apiKeyClaims(keyId: string, organizationId: string): Claims {
  return { role: 'authenticated', api_key_id: keyId, organization_id: organizationId };
}
