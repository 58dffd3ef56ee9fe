// The organization's billing state, its credit ledger and its usage.
import type { components } from '../generated/api.js';
import { validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import * as credits from '../db/queries/credits.js';
import { findSubscription } from '../db/queries/billing.js';
import { asCaller } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { paginate } from './pagination.js';

type Billing = components['schemas']['Billing'];
type LedgerEntry = components['schemas']['LedgerEntry'];
type Usage = components['schemas']['Usage'];

type SubscriptionStatus = Billing['subscription']['status'];
const subscriptionStatuses: readonly SubscriptionStatus[] = [
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'incomplete',
  'incomplete_expired',
  'paused',
];

/** Stripe's status as stored; one Stripe added after this API version reads as `unknown`. */
function knownStatus(status: string): SubscriptionStatus {
  return subscriptionStatuses.includes(status as SubscriptionStatus) ? (status as SubscriptionStatus) : 'unknown';
}

export async function getBilling(ctx: RequestContext, orgId: string): Promise<Billing> {
  return asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    const [available, reserved] = [await credits.findAvailable(tx, orgId), await credits.sumReserved(tx, orgId)];
    const subscription = await findSubscription(tx, orgId);
    return {
      planId: org.planId,
      subscription: subscription
        ? {
            status: knownStatus(subscription.status),
            currentPeriodEnd: subscription.currentPeriodEnd,
            cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
          }
        : { status: 'none', currentPeriodEnd: null, cancelAtPeriodEnd: false },
      credits: { balance: available + reserved, reserved, available },
      stripeConfigured: Boolean(ctx.deps.stripe?.client),
    };
  });
}

export async function listLedgerEntries(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; kind?: credits.LedgerKind; taskId?: string },
): Promise<{ items: LedgerEntry[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      requireRole(await requireOrganization(tx, orgId), ['owner', 'admin'], 'read the credit ledger');
      return credits.listLedger(tx, orgId, { ...page, kind: query.kind, taskId: query.taskId });
    }),
  );
}

const maxRangeDays = 366;
const earliestUsageDate = '2000-01-01';
const latestUsageDate = '9999-12-30';

export async function getUsage(ctx: RequestContext, orgId: string, from: string, to: string): Promise<Usage> {
  // Dates are YYYY-MM-DD (the contract's format): as text they compare like dates.
  if (from < earliestUsageDate) throw validationError('query.from', `must be ${earliestUsageDate} or later`);
  if (to > latestUsageDate) throw validationError('query.to', `must be ${latestUsageDate} or earlier`);
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;
  if (days < 0) throw validationError('query.to', 'must not be before from');
  if (days > maxRangeDays) throw validationError('query.to', `must be at most ${maxRangeDays} days after from`);
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    const totals = (rows: credits.UsageRow[]) => rows.map(({ key: _k, label: _l, ...sums }) => sums);
    const [total] = totals(await credits.usageBy(tx, orgId, from, to, 'total'));
    const byDay = await credits.usageBy(tx, orgId, from, to, 'day');
    const byEmployee = await credits.usageBy(tx, orgId, from, to, 'employee');
    const byModel = await credits.usageBy(tx, orgId, from, to, 'model');
    return {
      from,
      to,
      totals: total ?? { tasks: 0, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costCredits: 0 },
      byDay: byDay.map(({ key, label: _l, ...sums }) => ({ date: key, ...sums })),
      byEmployee: byEmployee.map(({ key, label, ...sums }) => ({ employeeId: key, employeeName: label ?? '', ...sums })),
      byModel: byModel.map(({ key, label: _l, ...sums }) => ({ model: key, ...sums })),
    };
  });
}
