// `npm run db:migrate`: applies pending migrations to DATABASE_URL (a deploy step), or to the embedded
// database when DATABASE_URL is not set.
import { connect } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { localDataDir, startLocalDatabase } from '../src/db/local.js';

const external = process.env.DATABASE_URL;
const cluster = external ? undefined : await startLocalDatabase(localDataDir());
const db = connect(external ?? cluster!.url, { max: 1 });
try {
  const applied = await migrate(db);
  console.log(applied.length ? `Applied ${applied.join(', ')}` : 'No pending migrations.');
} finally {
  await db.end();
  await cluster?.stop();
}
