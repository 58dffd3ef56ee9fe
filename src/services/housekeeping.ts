// Housekeeping on a clock, whatever the task queue holds: tasks past their deadline for tool outputs end
// `expired` every second, and every minute old events (their webhook deliveries with them), spent idempotency
// keys and idle rate-limit buckets go, batch after batch until none is left or a run's bound is reached.
import type { Logger } from 'pino';
import { withOwner, withService, type Db } from '../db/client.js';
import { expireTasks } from '../db/queries/tasks.js';
import { sweepEvents } from '../db/queries/events.js';
import { sweepIdempotencyKeys } from '../db/queries/idempotency.js';
import { sweepRateLimits } from '../db/queries/rate-limits.js';

const reason = 'housekeeping expires and sweeps the rows of every organization';

/** What expire_tasks and sweep_events handle per call; a full batch means there may be more. */
const expireBatch = 100;
const eventBatch = 5_000;
const rowBatch = 5_000;

export interface HousekeepingOptions {
  db: Db;
  log: Logger;
  /** How often tasks past their deadline for tool outputs are expired. */
  expireEveryMs?: number;
  /** How often old rows are swept. */
  sweepEveryMs?: number;
  /** Batches of one kind of row per run, each its own transaction: 50 × 5,000 events a minute by default. */
  maxBatches?: number;
}

export interface SweepReport {
  events: number;
  idempotencyKeys: number;
  rateLimits: number;
}

export interface Housekeeping {
  /** Expires what is due and sweeps old rows once; what it removed. */
  run(): Promise<{ expired: number } & SweepReport>;
  start(): void;
  stop(): Promise<void>;
}

/** Calls `batch` until it handles less than `size` or `maxBatches` ran; the total. */
async function inBatches(size: number, maxBatches: number, batch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const done = await batch();
    total += done;
    if (done < size) break;
  }
  return total;
}

/** Ends the tasks whose tool outputs did not come before their deadline; how many. */
export function expireDueTasks(db: Db, maxBatches = 50): Promise<number> {
  return inBatches(expireBatch, maxBatches, () => withService(db, reason, (tx) => expireTasks(tx)));
}

/** Removes events past their 30 days (their deliveries go with them), spent idempotency keys and idle rate-limit buckets. */
export async function sweepOldRows(db: Db, maxBatches = 50): Promise<SweepReport> {
  const events = await inBatches(eventBatch, maxBatches, () => withService(db, reason, (tx) => sweepEvents(tx)));
  // Only the schema's owner touches these two tables (see supabase/privileges.yaml): no role is set. Bounded
  // waits all the same: a locked table must not hold a connection of the pool for ever.
  const idempotencyKeys = await inBatches(rowBatch, maxBatches, () => withOwner(db, reason, (tx) => sweepIdempotencyKeys(tx, rowBatch)));
  const rateLimits = await inBatches(rowBatch, maxBatches, () => withOwner(db, reason, (tx) => sweepRateLimits(tx, rowBatch)));
  return { events, idempotencyKeys, rateLimits };
}

export function createHousekeeping(options: HousekeepingOptions): Housekeeping {
  const { db, log } = options;
  const expireEveryMs = options.expireEveryMs ?? 1_000;
  const sweepEveryMs = options.sweepEveryMs ?? 60_000;
  const maxBatches = options.maxBatches ?? 50;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;

  async function expire(): Promise<number> {
    const expired = await expireDueTasks(db, maxBatches);
    if (expired > 0) log.info({ expired }, 'tasks expired waiting for tool outputs');
    return expired;
  }

  async function sweep(): Promise<SweepReport> {
    const swept = await sweepOldRows(db, maxBatches);
    if (swept.events + swept.idempotencyKeys + swept.rateLimits > 0) log.info(swept, 'old rows removed');
    return swept;
  }

  async function run(): Promise<{ expired: number } & SweepReport> {
    return { expired: await expire(), ...(await sweep()) };
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });
  }

  async function tick(): Promise<void> {
    let lastSweep = 0;
    while (!stopping) {
      try {
        await expire();
        if (Date.now() - lastSweep >= sweepEveryMs) {
          lastSweep = Date.now();
          await sweep();
        }
      } catch (error) {
        log.error({ err: error }, 'housekeeping failed; trying again');
      }
      if (!stopping) await pause(expireEveryMs);
    }
  }

  return {
    run,
    start() {
      loop ??= tick();
    },
    async stop() {
      stopping = true;
      wakeUp?.();
      await loop;
    },
  };
}
