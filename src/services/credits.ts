// Credit movements that the system makes on the caller's behalf: grants, task reservations and settlement.
import { asServiceRoleWithin, type Tx } from '../db/client.js';
import { moveCredits } from '../db/queries/credits.js';
import { plans } from './catalog.js';

export function grantReference(planId: string, at = new Date()): string {
  return `grant:${planId}:${at.toISOString().slice(0, 7)}`;
}

/** The free plan's credits for the current month, once (the reference makes it idempotent). */
export async function grantFreeCreditsForThisMonth(tx: Tx, orgId: string): Promise<void> {
  const free = plans.find((p) => p.id === 'free')!;
  await asServiceRoleWithin(tx, 'the monthly free grant is the system giving credits, not the caller', () =>
    moveCredits(tx, { orgId, kind: 'grant', amount: free.monthlyCredits, reference: grantReference('free'), description: 'Free plan monthly credits' }),
  );
}

/** Settles a finished task: the reservation back, the cost charged; a failed or canceled task pays nothing. */
export async function settleTask(
  tx: Tx,
  task: { id: string; organizationId: string; reservedCredits: number },
  costCredits: number,
  description: string,
): Promise<void> {
  const reference = `task:${task.id}`;
  await moveCredits(tx, { orgId: task.organizationId, kind: 'release', amount: task.reservedCredits, reference, taskId: task.id, description: 'Reservation released' });
  if (costCredits > 0) {
    await moveCredits(tx, { orgId: task.organizationId, kind: 'usage', amount: -costCredits, reference, taskId: task.id, description });
  }
}
