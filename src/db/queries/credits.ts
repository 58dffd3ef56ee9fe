import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';
import type { components } from '../../generated/api.js';

export type LedgerKind = components['schemas']['LedgerEntryKind'];
export type LedgerEntryRow = components['schemas']['LedgerEntry'];

/**
 * One ledger entry, once per (kind, reference); service role only. Returns the balance after it, or null
 * when the entry existed (nothing changed). Throws with hint insufficient_credits when it would go below zero.
 */
export async function moveCredits(
  tx: Tx,
  entry: { orgId: string; kind: LedgerKind; amount: number; reference: string; taskId?: string | null; description: string },
): Promise<number | null> {
  const [row] = await tx<{ after: string | null }[]>`
    select staffroom.move_credits(${entry.orgId}, ${entry.kind}, ${entry.amount}, ${entry.reference}, ${entry.taskId ?? null}, ${entry.description}) as after`;
  return row?.after === null || row?.after === undefined ? null : Number(row.after);
}

/** Settles a finished task (service role): its reservation back, its cost charged, never more than was reserved. */
export async function settleTask(tx: Tx, taskId: string, costCredits: number, description: string): Promise<void> {
  await tx`select staffroom.settle_task(${taskId}, ${costCredits}, ${description})`;
}

export async function findAvailable(tx: Tx, orgId: string): Promise<number> {
  const [row] = await tx<{ available: string }[]>`select available from staffroom.credit_accounts where organization_id = ${orgId}`;
  return row ? Number(row.available) : 0;
}

export async function sumReserved(tx: Tx, orgId: string): Promise<number> {
  const [row] = await tx<{ reserved: string }[]>`
    select coalesce(sum(reserved_credits), 0) as reserved from staffroom.tasks
    where organization_id = ${orgId} and status in ('queued', 'running')`;
  return Number(row?.reserved ?? 0);
}

export async function listLedger(
  tx: Tx,
  orgId: string,
  options: PageRequest & { kind?: LedgerKind; taskId?: string },
): Promise<LedgerEntryRow[]> {
  const page = keyset(tx, ['l.created_at', 'l.id'], options);
  return tx<LedgerEntryRow[]>`
    select l.id, l.kind, l.amount::float8 as amount, l.balance_after::float8 as "balanceAfter", l.reference, l.task_id as "taskId",
           l.description, to_json(l.created_at)#>>'{}' as "createdAt"
    from staffroom.credit_ledger l
    where l.organization_id = ${orgId}
      ${options.kind ? tx`and l.kind = ${options.kind}` : tx``}
      ${options.taskId ? tx`and l.task_id = ${options.taskId}` : tx``}
      ${page.after}
    ${page.orderAndLimit}`;
}

export interface UsageRow {
  key: string;
  label: string | null;
  tasks: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costCredits: number;
}

/** Exact totals of tasks finished between two UTC dates (inclusive), grouped by day, employee or model. */
export async function usageBy(
  tx: Tx,
  orgId: string,
  from: string,
  to: string,
  by: 'day' | 'employee' | 'model' | 'total',
): Promise<UsageRow[]> {
  const key = {
    day: tx`to_char(t.finished_at at time zone 'UTC', 'YYYY-MM-DD')`,
    employee: tx`t.employee_id::text`,
    model: tx`t.model`,
    total: tx`'total'`,
  }[by];
  return tx<UsageRow[]>`
    select ${key} as key, ${by === 'employee' ? tx`min(e.name)` : tx`null`} as label, count(*)::int as tasks,
           -- float8 is exact for integers below 2^53 and arrives as a JS number (int8 would arrive as a string).
           coalesce(sum(t.input_tokens), 0)::float8 as "inputTokens", coalesce(sum(t.output_tokens), 0)::float8 as "outputTokens",
           coalesce(sum(t.cached_input_tokens), 0)::float8 as "cachedInputTokens", coalesce(sum(t.cost_credits), 0)::float8 as "costCredits"
    from staffroom.tasks t join staffroom.employees e on e.id = t.employee_id
    -- Every task that ran a step: succeeded and failed ones, and those canceled or expired after paid steps.
    where t.organization_id = ${orgId} and (t.status in ('succeeded', 'failed') or t.cost_credits > 0)
      and t.finished_at >= ${from}::text::date and t.finished_at < ${to}::text::date + 1
    group by 1
    order by 1`;
}
