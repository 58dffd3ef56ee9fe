// `npm run token -- alice@example.com [--name "Alice Martin"] [--expires 12h]`: creates the local user if
// needed and prints an access token for it, signed with the local secret in .data/.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connect } from '../src/db/client.js';
import { loadLocalSecrets, localDataDir, withLocalDatabaseUrl } from '../src/db/local.js';
import { migrate } from '../src/db/migrate.js';
import { mintAccessToken } from '../src/services/identity.js';

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

const dataDir = localDataDir();
const userId = await withLocalDatabaseUrl(dataDir, async (url) => {
  const db = connect(url, { max: 1 });
  try {
    await migrate(db);
    const [existing] = await db<{ id: string }[]>`select id from auth.users where lower(email) = ${email}`;
    if (existing) return existing.id;
    const [created] = await db<{ id: string }[]>`
      insert into auth.users (id, email, raw_user_meta_data) values (${randomUUID()}, ${email}, ${db.json({ name: values.name ?? null })})
      returning id`;
    return created!.id;
  } finally {
    await db.end();
  }
});
const token = await mintAccessToken({
  secret: loadLocalSecrets(dataDir).jwtSecret,
  userId,
  email,
  name: values.name,
  expiresIn: values.expires,
});
process.stdout.write(`${token}\n`);
