// Who is calling: Supabase access tokens (HS256 with the project's JWT secret, or RS256/ES256 from its
// JWKS) and, locally, tokens minted with the secret generated in .data/.
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { ApiError } from '../kernel/errors.js';
import type { VerifiedUser } from '../kernel/caller.js';
export type { VerifiedUser };

export interface AuthConfig {
  /** HS256 secret (Supabase's legacy JWT secret, or the local one). */
  jwtSecret?: string;
  /** `<SUPABASE_URL>/auth/v1/.well-known/jwks.json` for asymmetric keys. */
  jwksUrl?: string;
  /** Checked when set. */
  issuer?: string;
  audience: string;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createTokenVerifier(config: AuthConfig): (token: string) => Promise<VerifiedUser> {
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : undefined;
  // jose caches the key set and refetches it when it meets an unknown key id.
  const jwks: JWTVerifyGetKey | undefined = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;
  if (!secret && !jwks) throw new Error('Configure SUPABASE_JWT_SECRET or SUPABASE_URL to verify access tokens.');

  return async function verifySupabaseJwt(token: string): Promise<VerifiedUser> {
    let payload: VerifiedUser['claims'];
    try {
      const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: unknown } | null;
      if (typeof header !== 'object' || header === null) throw new ApiError('TOKEN_INVALID', 'The access token is malformed.');
      // A token without `exp` would be valid forever: refused, as is one whose issuer differs when it is known.
      const options = {
        audience: config.audience,
        requiredClaims: ['exp', 'sub'],
        ...(config.issuer ? { issuer: config.issuer } : {}),
        clockTolerance: 5,
      };
      if (header.alg === 'HS256') {
        if (!secret) throw new ApiError('TOKEN_INVALID', 'This service does not accept HS256 tokens.');
        ({ payload } = await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] }));
      } else {
        if (!jwks)
          throw new ApiError(
            'TOKEN_INVALID',
            `This service does not accept ${typeof header.alg === 'string' ? header.alg : 'unsigned'} tokens.`,
          );
        ({ payload } = await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256'] }));
      }
    } catch (error) {
      throw toAuthError(error);
    }
    if (typeof payload.sub !== 'string' || !uuid.test(payload.sub)) {
      throw new ApiError('TOKEN_INVALID', 'The access token has no user id (sub).');
    }
    if (payload.role !== undefined && payload.role !== 'authenticated') {
      throw new ApiError('TOKEN_INVALID', `Tokens of role ${String(payload.role)} cannot call this API; sign in as a user.`);
    }
    if (typeof payload.email !== 'string' || !payload.email) {
      throw new ApiError('TOKEN_INVALID', 'The access token has no email claim.');
    }
    const metadata = (payload.user_metadata ?? {}) as { name?: unknown; full_name?: unknown };
    const name = typeof metadata.full_name === 'string' ? metadata.full_name : typeof metadata.name === 'string' ? metadata.name : null;
    return { userId: payload.sub, email: payload.email.toLowerCase(), name, claims: payload };
  };
}

function toAuthError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof errors.JWTExpired) return new ApiError('TOKEN_EXPIRED', 'The access token has expired; sign in again.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new ApiError('TOKEN_INVALID', `The access token's ${error.claim} claim is not accepted here.`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new ApiError('TOKEN_INVALID', 'The access token signature does not verify.');
  }
  if (error instanceof errors.JWKSNoMatchingKey) return new ApiError('TOKEN_INVALID', 'The access token was signed by an unknown key.');
  if (error instanceof errors.JOSEError || error instanceof SyntaxError) {
    return new ApiError('TOKEN_INVALID', 'The access token is malformed.');
  }
  return new ApiError('UNAVAILABLE', 'Access tokens cannot be verified right now.', undefined, { cause: error });
}

/** Mints an access token shaped like Supabase's, for local use and tests. */
export async function mintAccessToken(options: {
  secret: string;
  userId: string;
  email: string;
  name?: string;
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
}): Promise<string> {
  return new SignJWT({
    email: options.email,
    role: 'authenticated',
    aal: 'aal1',
    user_metadata: options.name ? { name: options.name } : {},
    app_metadata: { provider: 'email' },
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.userId)
    .setAudience(options.audience ?? 'authenticated')
    .setIssuer(options.issuer ?? localIssuer)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(options.secret));
}

/** Supabase settings from the environment; locally, the secret generated in .data/. */
export function authConfigFromEnv(env: NodeJS.ProcessEnv, localSecret?: string): AuthConfig | undefined {
  const supabaseUrl = env.SUPABASE_URL?.replace(/\/+$/, '');
  const jwtSecret = env.SUPABASE_JWT_SECRET ?? localSecret;
  const jwksUrl = supabaseUrl ? `${supabaseUrl}/auth/v1/.well-known/jwks.json` : undefined;
  if (!jwtSecret && !jwksUrl) return undefined;
  const issuer = env.SUPABASE_JWT_ISSUER ?? (supabaseUrl ? `${supabaseUrl}/auth/v1` : env.SUPABASE_JWT_SECRET ? undefined : localIssuer);
  return { jwtSecret, jwksUrl, issuer, audience: 'authenticated' };
}

export const localIssuer = 'staffroom-local';
