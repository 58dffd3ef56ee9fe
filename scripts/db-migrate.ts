// `npm run db:migrate [-- --include-all]`: applies pending migrations to DATABASE_URL (a deploy step), or to the
// embedded database: the running one when `npm start` runs it (never stopping it), else started for the run.
// Like `supabase db push`, it refuses a pending migration that sorts before the latest one applied unless
// --include-all says to apply it anyway.
import { parseArgs } from 'node:util';
import { connect } from '../src/db/client.js';
import { migrate, OutOfOrderMigrationsError } from '../src/db/migrate.js';
import { localDataDir, withLocalDatabaseUrl } from '../src/db/local.js';
import { migrationUrlProblem } from '../src/db/urls.js';

const { values } = parseArgs({ options: { 'include-all': { type: 'boolean', default: false } } });

async function migrateAt(url: string): Promise<void> {
  const db = connect(url, { max: 1 });
  try {
    const applied = await migrate(db, undefined, { includeAll: values['include-all'] });
    console.log(applied.length ? `Applied ${applied.join(', ')}` : 'No pending migrations.');
  } finally {
    await db.end();
  }
}

const external = process.env.DATABASE_URL;
const problem = external === undefined ? undefined : migrationUrlProblem(external);
if (problem) {
  console.error(problem);
  process.exit(1);
}
try {
  await (external ? migrateAt(external) : withLocalDatabaseUrl(localDataDir(), migrateAt));
} catch (error) {
  if (!(error instanceof OutOfOrderMigrationsError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
