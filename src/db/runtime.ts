// The database of a running service: DATABASE_URL when set (Supabase or any Postgres; nothing is started
// and migrations are a deploy step), else the embedded cluster, migrated on start.
import type { Logger } from 'pino';
import { connect, type Db } from './client.js';
import { localDataDir, superviseLocalDatabase } from './local.js';
import { migrate } from './migrate.js';

export interface RuntimeDatabase {
  db: Db;
  mode: 'external' | 'embedded';
  close(): Promise<void>;
}

export async function openDatabase(env: NodeJS.ProcessEnv, log: Logger): Promise<RuntimeDatabase> {
  if (env.DATABASE_URL) {
    const db = connect(env.DATABASE_URL, { max: Number(env.DATABASE_POOL_SIZE ?? 10) });
    return { db, mode: 'external', close: () => db.end({ timeout: 5 }) };
  }
  const dataDir = localDataDir(env);
  const cluster = await superviseLocalDatabase(dataDir, log.child({ component: 'embedded-database' }));
  const db = connect(cluster.url, { max: 10 });
  const applied = await migrate(db);
  log.info({ dataDir, port: cluster.port, applied }, 'embedded database ready');
  return {
    db,
    mode: 'embedded',
    close: async () => {
      await db.end({ timeout: 5 });
      await cluster.stop();
    },
  };
}
