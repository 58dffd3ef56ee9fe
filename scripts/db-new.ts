// `npm run db:new -- <snake_case_name>`: a new migration stamped with the current UTC time, as
// `supabase migration new` makes one, with the header every migration of ours starts with.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { newMigrationFile, readMigrations } from '../src/db/migrate.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: 'string', default: resolve(import.meta.dirname, '../supabase/migrations') } },
});

const template = `-- What this migration changes, and why, in a few lines.
-- Every grant to anon, authenticated or service_role is listed in supabase/privileges.yaml (npm test checks).
-- A definer function pins its search_path (never '': types would still resolve from pg_temp first):
--   create or replace function staffroom.<name>(...) returns ...
--     language plpgsql security definer set search_path = pg_catalog, pg_temp
--   as $$ ... $$;
`;

try {
  if (positionals.length !== 1) throw new Error('Usage: npm run db:new -- <snake_case_name>');
  const file = newMigrationFile(positionals[0]!, new Date(), readMigrations(values.dir));
  writeFileSync(resolve(values.dir, file), template, { flag: 'wx' });
  console.log(resolve(values.dir, file));
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
