// Local sign-in: the server answers the Supabase Auth endpoints supabase-js calls to sign up, sign in with a
// password, refresh, read the user and sign out, for local users; the SDK's `supabase` option then works
// against it exactly as against a Supabase project, with the real supabase-js.
import type { SupabaseClient } from '@supabase/supabase-js';
import { describe, expect, it } from 'vitest';
import { createStaffroomClient, unwrap } from '../../sdk/index.js';
import { localSignInApplies } from '../../src/services/local-auth.js';
import { useTestApp } from '../support/app.js';
import { inProcessSupabase } from '../support/supabase-client.js';
import { withContractCheck } from '../support/server.js';

const app = useTestApp({ localAuth: true });

const supabase = (): SupabaseClient => inProcessSupabase(app.server.baseUrl);

const auth = (path: string, init: RequestInit = {}) =>
  fetch(`${app.server.baseUrl}/auth/v1${path}`, { ...init, headers: { 'Content-Type': 'application/json', ...init.headers } });

describe('local sign-in with supabase-js', () => {
  it('signs up, signs in, calls the API through the SDK, refreshes and signs out', async () => {
    const client = supabase();
    const signedUp = await client.auth.signUp({
      email: 'Local.Dev@example.com',
      password: 'correct horse',
      options: { data: { name: 'Lo Cal' } },
    });
    expect(signedUp.error).toBeNull();
    expect(signedUp.data.user).toMatchObject({ email: 'local.dev@example.com', user_metadata: { name: 'Lo Cal' } });
    await client.auth.signOut();

    const signedIn = await client.auth.signInWithPassword({ email: 'local.dev@example.com', password: 'correct horse' });
    expect(signedIn.error).toBeNull();
    const sdk = withContractCheck(createStaffroomClient({ baseUrl: app.server.baseUrl, supabase: client, retries: 0 }));
    const me = await unwrap(sdk.GET('/v1/me'));
    expect(me.profile).toMatchObject({ id: signedUp.data.user!.id, email: 'local.dev@example.com', name: 'Lo Cal' });
    const org = await unwrap(sdk.POST('/v1/organizations', { body: { name: 'Signed in locally' } }));
    expect(org.name).toBe('Signed in locally');

    const before = signedIn.data.session!;
    const refreshed = await client.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session!.refresh_token).not.toBe(before.refresh_token);
    expect((await client.auth.getUser()).data.user?.id).toBe(signedUp.data.user!.id);
    expect((await unwrap(sdk.GET('/v1/me'))).profile.id).toBe(signedUp.data.user!.id);

    expect((await client.auth.signOut()).error).toBeNull();
    // Signed out everywhere: the refresh token no longer works.
    const reused = await auth('/token?grant_type=refresh_token', {
      method: 'POST',
      body: JSON.stringify({ refresh_token: refreshed.data.session!.refresh_token }),
    });
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error_code: 'refresh_token_not_found' });
  });

  it('refuses a wrong password, an unknown email and a user without a password alike', async () => {
    await app.database.db`insert into auth.users (id, email) values (${crypto.randomUUID()}, 'no-password@example.com')`;
    await supabase().auth.signUp({ email: 'has-password@example.com', password: 'right password' });
    for (const [email, password] of [
      ['has-password@example.com', 'wrong password'],
      ['nobody@example.com', 'right password'],
      ['no-password@example.com', 'right password'],
    ] as const) {
      const { error, data } = await supabase().auth.signInWithPassword({ email, password });
      expect(data.session).toBeNull();
      expect(error).toMatchObject({ status: 400, code: 'invalid_credentials', message: 'Invalid login credentials' });
    }
  });

  it('refuses a second sign-up with an email and a weak password, and a refresh token used twice', async () => {
    const first = await supabase().auth.signUp({ email: 'twice@example.com', password: 'long enough' });
    expect(first.error).toBeNull();
    const again = await supabase().auth.signUp({ email: 'TWICE@example.com', password: 'long enough' });
    expect(again.error).toMatchObject({ status: 422, code: 'user_already_exists' });
    const weak = await supabase().auth.signUp({ email: 'weak@example.com', password: '12345' });
    expect(weak.error).toMatchObject({ status: 422, code: 'weak_password' });

    const token = first.data.session!.refresh_token;
    const refresh = () => auth('/token?grant_type=refresh_token', { method: 'POST', body: JSON.stringify({ refresh_token: token }) });
    expect((await refresh()).status).toBe(200);
    // Used again within GoTrue's reuse interval (tabs refreshing at once): honoured; later, refused.
    expect((await refresh()).status).toBe(200);
    await app.database.db`update auth.local_refresh_tokens set used_at = now() - interval '1 minute' where used_at is not null`;
    const late = await refresh();
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ error_code: 'refresh_token_already_used' });
  });

  it('answers preflights and keeps passwords and refresh tokens away from every API role', async () => {
    const preflight = await fetch(`${app.server.baseUrl}/auth/v1/token?grant_type=password`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('apikey');
    const [stored] = await app.database.db<{ hash: string }[]>`select password_hash as hash from auth.local_passwords limit 1`;
    expect(stored!.hash).toMatch(/^scrypt\$/);
    for (const role of ['anon', 'authenticated', 'service_role']) {
      const [row] = await app.database.db<{ passwords: boolean; tokens: boolean }[]>`
        select has_table_privilege(${role}, 'auth.local_passwords', 'select') as passwords,
               has_table_privilege(${role}, 'auth.local_refresh_tokens', 'select') as tokens`;
      expect(row, role).toEqual({ passwords: false, tokens: false });
    }
    const notJson = await auth('/token?grant_type=password', { method: 'POST', body: '{not json' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error_code: 'bad_json' });
  });
});

describe('where local sign-in answers', () => {
  it('only on the embedded database, and never beside Supabase Auth', () => {
    expect(localSignInApplies('embedded', {})).toBe(true);
    expect(localSignInApplies('embedded', { SUPABASE_URL: 'https://abc.supabase.co' })).toBe(false);
    expect(localSignInApplies('embedded', { SUPABASE_JWT_SECRET: 'secret' })).toBe(false);
    expect(localSignInApplies('external', {})).toBe(false);
  });
});
