import type { components } from '../generated/api.js';
import type { RequestContext } from '../kernel/context.js';
import * as queries from '../db/queries/organizations.js';
import { asCaller, ensureProfile, userOf } from './context.js';

type CurrentUser = components['schemas']['CurrentUser'];

/** The caller's profile (created from the token's claims on first use) and memberships. */
export async function getCurrentUser(ctx: RequestContext): Promise<CurrentUser> {
  const user = userOf(ctx);
  return asCaller(ctx, async (tx) => {
    await ensureProfile(tx, user);
    const profile = (await queries.findProfile(tx, user.userId))!;
    return { profile, memberships: await queries.listMembershipsOf(tx, user.userId) };
  });
}
