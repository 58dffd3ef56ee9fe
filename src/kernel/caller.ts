// Who a request acts for, and the claims Postgres sees for it.
import type { JWTPayload } from 'jose';

/** The claims a request runs under: a user's token claims, or the server-made claims of an API key. */
export interface Claims {
  sub?: string;
  role: 'authenticated';
  email?: string;
  api_key_id?: string;
  organization_id?: string;
  [claim: string]: unknown;
}

/** A user whose access token verified. */
export interface VerifiedUser {
  userId: string;
  email: string;
  name: string | null;
  claims: JWTPayload & { email?: string; role?: string };
}

/** Who a request acts for, resolved by the security handlers; services take it from the context. */
export type Caller =
  | { kind: 'user'; userId: string; email: string; name: string | null; claims: Claims }
  | { kind: 'api_key'; keyId: string; organizationId: string; claims: Claims };

// The verified token's standard claims that Postgres sees as auth.jwt(), as Supabase's own API passes them.
// Anything else a token carries stays out, so that no token can bring `api_key_id` or `organization_id`:
// those come only from a key the server resolved (apiKeyClaims).
const passedClaims = ['iss', 'aud', 'exp', 'iat', 'session_id', 'aal', 'amr', 'is_anonymous', 'phone', 'app_metadata'] as const;

export function userClaims(user: { userId: string; email: string }, tokenClaims: Record<string, unknown>): Claims {
  const claims: Claims = { sub: user.userId, email: user.email, role: 'authenticated' };
  for (const name of passedClaims) if (tokenClaims[name] !== undefined) claims[name] = tokenClaims[name];
  return claims;
}

export function apiKeyClaims(keyId: string, organizationId: string): Claims {
  return { role: 'authenticated', api_key_id: keyId, organization_id: organizationId };
}
