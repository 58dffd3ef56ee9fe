import type { components } from '../generated/api.js';
import type { RequestContext } from '../kernel/context.js';
import * as queries from '../db/queries/organizations.js';
import { asCaller, ensureProfile, userOf } from './context.js';

type CurrentUser = components['schemas']['CurrentUser'];

/** At most this many memberships come with the user (the contract's `maxItems`); listOrganizations pages the rest. */
const membershipsShown = 20;

/**
 * The caller's profile (created from the token's claims on first use) and their first memberships, in join
 * order: one row more than shown is fetched to tell whether there are more, so the work stays the same
 * however many organizations the user is in.
 */
export async function getCurrentUser(ctx: RequestContext): Promise<CurrentUser> {
  const user = userOf(ctx);
  return asCaller(ctx, async (tx) => {
    await ensureProfile(tx, user);
    const profile = (await queries.findProfile(tx, user.userId))!;
    const memberships = await queries.listCallerMemberships(tx, membershipsShown);
    return { profile, memberships: memberships.slice(0, membershipsShown), hasMoreMemberships: memberships.length > membershipsShown };
  });
}
