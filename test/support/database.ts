// A fresh database per test file, cloned from the migrated template: real Postgres, real RLS.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { connect, type Db } from '../../src/db/client.js';
import { databaseUrl } from './database-url.js';

export interface TestDatabase {
  url: string;
  /** Connected as the cluster's superuser, like the server's own pool. */
  db: Db;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const clusterUrl = inject('clusterUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = connect(clusterUrl, { max: 1 });
  // Clones of one template must not overlap (Postgres refuses a template in use): serialise them.
  await admin`select pg_advisory_lock(42)`;
  try {
    await admin.unsafe(`create database ${name} template staffroom_template`);
  } finally {
    await admin`select pg_advisory_unlock(42)`;
  }
  const url = databaseUrl(clusterUrl, name);
  const db = connect(url, { max: 5 });
  return {
    url,
    db,
    drop: async () => {
      await db.end();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** Puts an organization on a plan, as Stripe's webhook does when a subscription starts (tests that need its limits). */
export async function setPlan(db: Db, organizationId: string, planId: 'free' | 'starter' | 'pro'): Promise<void> {
  await db`update staffroom.organizations set plan_id = ${planId} where id = ${organizationId}`;
}
