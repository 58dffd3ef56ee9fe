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
  // CREATE DATABASE copies no database privileges (PUBLIC would hold TEMP again): the clone gets the template's.
  await admin.unsafe(`revoke all on database ${name} from public`);
  const grants = await admin<{ privilege: string; grantee: string }[]>`
    select a.privilege_type as privilege, case a.grantee when 0 then 'public' else a.grantee::regrole::text end as grantee
    from pg_database d cross join aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
    where d.datname = 'staffroom_template' and a.grantee <> d.datdba`;
  for (const { privilege, grantee } of grants) await admin.unsafe(`grant ${privilege} on database ${name} to ${grantee}`);
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
