import { connect, ping } from '../../src/db/client.js';

export function databaseUrl(clusterUrl: string, database: string): string {
  const url = new URL(clusterUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Whether a database answers at `url` now: a ping on a connection of its own. */
export async function databaseAnswers(url: string): Promise<boolean> {
  const db = connect(url, { max: 1 });
  try {
    await ping(db);
    return true;
  } catch {
    return false;
  } finally {
    await db.end({ timeout: 1 });
  }
}
