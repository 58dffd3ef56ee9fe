// `npm run db:migrate`: applies pending migrations to DATABASE_URL (a deploy step), or to the embedded
// database: the running one when `npm start` runs it (never stopping it), else started for the run.
import { connect } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { localDataDir, withLocalDatabaseUrl } from '../src/db/local.js';

async function migrateAt(url: string): Promise<void> {
  const db = connect(url, { max: 1 });
  try {
    const applied = await migrate(db);
    console.log(applied.length ? `Applied ${applied.join(', ')}` : 'No pending migrations.');
  } finally {
    await db.end();
  }
}

const external = process.env.DATABASE_URL;
await (external ? migrateAt(external) : withLocalDatabaseUrl(localDataDir(), migrateAt));
