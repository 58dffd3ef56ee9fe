// A local user's access token (`npm run token`, the runner): the user is created in the embedded database on first
// use, and the token signed with the local secret in the data directory, as Supabase Auth would sign one.
import { randomUUID } from 'node:crypto';
import { connect } from '../src/db/client.js';
import { loadLocalSecrets, localDataDir, withLocalDatabaseUrl } from '../src/db/local.js';
import { migrate } from '../src/db/migrate.js';
import { mintAccessToken } from '../src/services/identity.js';

export async function localUserToken(email: string, options: { name?: string; expiresIn?: string } = {}): Promise<string> {
  const dataDir = localDataDir();
  const userId = await withLocalDatabaseUrl(dataDir, async (url) => {
    const db = connect(url, { max: 1 });
    try {
      await migrate(db);
      const [existing] = await db<{ id: string }[]>`select id from auth.users where lower(email) = ${email}`;
      if (existing) return existing.id;
      const [created] = await db<{ id: string }[]>`
        insert into auth.users (id, email, raw_user_meta_data) values (${randomUUID()}, ${email}, ${db.json({ name: options.name ?? null })})
        returning id`;
      return created!.id;
    } finally {
      await db.end();
    }
  });
  return mintAccessToken({
    secret: loadLocalSecrets(dataDir).jwtSecret,
    userId,
    email,
    name: options.name,
    expiresIn: options.expiresIn ?? '12h',
  });
}
