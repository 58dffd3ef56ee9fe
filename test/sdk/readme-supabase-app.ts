// The README's supabase-js snippet ("Calling the API from an app"), as an app runs it on Node: `node` alone on
// Node 22 and later, `node --experimental-websocket` on Node 20. No transport, no `ws`, no cast: `npm run
// typecheck` checks this file under the repository's strict settings, and readme-supabase.test.ts runs it on
// the running Node version against a local Supabase Auth stand-in and the real service.
import { createClient } from '@supabase/supabase-js';
import { createStaffroomClient, paginate, unwrap } from '../../sdk/index.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set.`);
  return value;
}
const SUPABASE_URL = env('SUPABASE_URL');
const SUPABASE_ANON_KEY = env('SUPABASE_ANON_KEY');

const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY); // signed in as your app does it
const { error } = await supabase.auth.signInWithPassword({ email: env('EMAIL'), password: env('PASSWORD') });
if (error) throw error;
const staffroom = createStaffroomClient({ baseUrl: env('STAFFROOM_URL'), supabase });

const { profile } = await unwrap(staffroom.GET('/v1/me'));
const org = await unwrap(staffroom.POST('/v1/organizations', { body: { name: 'Acme' } }));
const employees: string[] = [];
for await (const employee of paginate(staffroom, '/v1/organizations/{orgId}/employees', { path: { orgId: org.id } })) {
  employees.push(employee.name);
}
console.log(JSON.stringify({ email: profile.email, organization: org.name, employees: employees.length }));
await supabase.auth.signOut();
