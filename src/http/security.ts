// Who is calling: the contract's security schemes, bearerAuth (a Supabase access token) and apiKey
// (X-Api-Key). The credentials a request sends are tried in the order the operation lists its schemes.
import { ApiError } from '../kernel/errors.js';
import type { Caller } from '../kernel/caller.js';
import { userClaims } from '../kernel/caller.js';
import type { AppDeps } from '../kernel/context.js';
import { apiKeyPrefix, resolveApiKey } from '../services/api-keys.js';
import type { Operation } from './contract.js';
import { single } from './request.js';
import type { HttpRequest } from './types.js';

type Scheme = (http: HttpRequest, deps: AppDeps, deadline: number) => Promise<Caller> | undefined;

const schemes: Record<string, Scheme> = {
  bearerAuth(http, deps) {
    const header = single(http.headers.authorization);
    if (!header) return undefined;
    return (async () => {
      const [scheme, token] = header.split(' ');
      if (scheme?.toLowerCase() !== 'bearer' || !token)
        throw new ApiError('TOKEN_INVALID', 'Authorization must be "Bearer <access token>".');
      if (token.startsWith(apiKeyPrefix)) throw new ApiError('TOKEN_INVALID', 'Send API keys in the X-Api-Key header, not Authorization.');
      if (!deps.verifyAccessToken) throw new ApiError('UNAVAILABLE', 'Sign-in is not configured on this deployment.');
      const user = await deps.verifyAccessToken(token);
      return { kind: 'user', userId: user.userId, email: user.email, name: user.name, claims: userClaims(user, user.claims) };
    })();
  },
  apiKey(http, deps, deadline) {
    const secret = single(http.headers['x-api-key']);
    if (!secret) return undefined;
    if (!deps.db) return Promise.reject(new ApiError('UNAVAILABLE', 'API keys need a database.'));
    return resolveApiKey(deps.db, secret, { deadline });
  },
};

function missingCredentials(): ApiError {
  return new ApiError('UNAUTHENTICATED', 'Send a bearer token in Authorization or an API key in X-Api-Key.');
}

/** Whether the operation needs a caller: it has a security requirement, and none of them is empty. */
export function requiresCaller(operation: Operation): boolean {
  return operation.security.length > 0 && !operation.security.some((requirement) => Object.keys(requirement).length === 0);
}

/**
 * The caller of a secured operation, or undefined for a public one. Credentials that fail are reported
 * (an expired token says so); with none of the accepted kinds sent, the error says what to send.
 */
export async function authenticate(operation: Operation, http: HttpRequest, deps: AppDeps, deadline: number): Promise<Caller | undefined> {
  if (!requiresCaller(operation)) return undefined;
  const failures: ApiError[] = [];
  for (const requirement of operation.security) {
    // Every scheme of this API is a requirement on its own; one that combined several would list them all.
    const names = Object.keys(requirement);
    if (names.length !== 1) throw new Error(`${operation.operationId}: combined security requirements are not supported.`);
    const attempt = schemes[names[0]!]?.(http, deps, deadline);
    if (!attempt) continue;
    try {
      return await attempt;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      failures.push(error);
    }
  }
  throw failures.find((error) => error.code !== 'UNAUTHENTICATED') ?? failures[0] ?? missingCredentials();
}
