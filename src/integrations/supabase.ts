// Supabase Auth's admin API, used only to email invitations when a project is configured
// (SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY). Called outside any database transaction. AuthAdminApi is what
// @supabase/supabase-js's `auth.admin` is, at the same pinned version; supabase-js's createClient is not used
// because on Node 20 it throws unless given a WebSocket for its realtime client, which this never uses.
// Loaded on the first invitation, not at start.
import type { AuthAdminApi } from '@supabase/auth-js';
import type { InvitationMailer } from '../kernel/context.js';
export type { InvitationMailer };

export function createSupabaseMailer(url: string, serviceRoleKey: string): InvitationMailer {
  let admin: Promise<InstanceType<typeof AuthAdminApi>> | undefined;
  const client = () =>
    (admin ??= import('@supabase/auth-js').then(
      ({ AuthAdminApi }) =>
        new AuthAdminApi({
          url: `${url}/auth/v1`,
          headers: { Authorization: `Bearer ${serviceRoleKey}`, apikey: serviceRoleKey },
        }),
    ));
  return {
    async sendInvitation(email, acceptUrl, organizationName) {
      const { error } = await (
        await client()
      ).inviteUserByEmail(email, {
        redirectTo: acceptUrl,
        data: { invited_to: organizationName },
      });
      // An address that already has an account gets no invite email from Supabase; it signs in instead.
      if (error && !/already been registered|already registered|email_exists/i.test(error.message)) throw error;
    },
  };
}
