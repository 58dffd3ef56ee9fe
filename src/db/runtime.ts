// The database of a running service: DATABASE_URL when set (Supabase or any Postgres; nothing is started
// and migrations are a deploy step), else the embedded cluster, migrated on start. Notices (LISTEN) come on the
// connection listenConnection() names, checked at start, or the features that wait for them poll.
import type { Logger } from 'pino';
import { listenConnection } from '../config.js';
import { connect, type Db } from './client.js';
import { openNotices, useNotices, type Notices } from './notices.js';
import { localDataDir, superviseLocalDatabase } from './local.js';
import { migrate } from './migrate.js';

export interface RuntimeDatabase {
  db: Db;
  mode: 'external' | 'embedded';
  /** What the worker, the webhook dispatcher and event streams LISTEN through (also registered for `db`). */
  notices: Notices;
  close(): Promise<void>;
}

export async function openDatabase(env: NodeJS.ProcessEnv, log: Logger): Promise<RuntimeDatabase> {
  if (env.DATABASE_URL) {
    const db = connect(env.DATABASE_URL, { max: Number(env.DATABASE_POOL_SIZE ?? 10) });
    const notices = await openNotices(db, listenConnection(env, env.DATABASE_URL), log.child({ component: 'notices' }));
    useNotices(db, notices);
    return {
      db,
      mode: 'external',
      notices,
      close: async () => {
        await notices.close();
        await db.end({ timeout: 5 });
      },
    };
  }
  const dataDir = localDataDir(env);
  const cluster = await superviseLocalDatabase(dataDir, log.child({ component: 'embedded-database' }));
  const db = connect(cluster.url, { max: 10 });
  const applied = await migrate(db);
  log.info({ dataDir, port: cluster.port, applied }, 'embedded database ready');
  const notices = await openNotices(db, listenConnection(env, cluster.url), log.child({ component: 'notices' }));
  useNotices(db, notices);
  return {
    db,
    mode: 'embedded',
    notices,
    close: async () => {
      await notices.close();
      await db.end({ timeout: 5 });
      await cluster.stop();
    },
  };
}
