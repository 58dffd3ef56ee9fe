// `npm run token -- alice@example.com [--name "Alice Martin"] [--expires 12h]`: creates the local user if
// needed and prints an access token for it, signed with the local secret in .data/.
import { parseArgs } from 'node:util';
import { localUserToken } from './local-token.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, expires: { type: 'string', default: '12h' } },
});
const email = positionals[0]?.trim().toLowerCase();
if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) {
  console.error('Usage: npm run token -- <email> [--name "Full Name"] [--expires 12h]');
  process.exit(2);
}
if (process.env.DATABASE_URL) {
  console.error('DATABASE_URL is set: tokens for a Supabase project come from Supabase Auth, not from this script.');
  process.exit(2);
}
process.stdout.write(`${await localUserToken(email, { name: values.name, expiresIn: values.expires })}\n`);
