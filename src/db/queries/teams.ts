// What a team's members share, as its readers see it: the board (items kept with the TaskCreate, TaskList,
// TaskGet and TaskUpdate tools) and the messages they send each other (SendMessage). The worker writes both
// through definer functions; these reads run as the caller, under RLS. A team is named by its root task
// (`coalesce(t.root_task_id, t.id)` of any of its tasks).
import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';
import type { components } from '../../generated/api.js';

export type BoardItemRow = components['schemas']['BoardItem'];
export type TeamMessageRow = components['schemas']['TeamMessage'];

/** The team's board in the order of its numbers; `blocks` are the items whose `blocked_by` holds this one's number. */
export async function listTeamBoard(tx: Tx, orgId: string, rootTaskId: string): Promise<BoardItemRow[]> {
  return tx<BoardItemRow[]>`
    select b.number::text as id, b.subject, b.description, b.active_form as "activeForm", b.status, b.owner,
      array(select x::text from unnest(b.blocked_by) x order by x) as "blockedBy",
      array(select o.number::text from staffroom.team_board_items o
            where o.root_task_id = b.root_task_id and b.number = any (o.blocked_by) order by o.number) as blocks,
      b.metadata, b.created_by_task_id as "createdByTaskId",
      to_json(b.created_at)#>>'{}' as "createdAt", to_json(b.updated_at)#>>'{}' as "updatedAt"
    from staffroom.team_board_items b
    where b.organization_id = ${orgId} and b.root_task_id = ${rootTaskId}
    order by b.number`;
}

/** A page of the team's messages, oldest first. */
export async function listTeamMessages(tx: Tx, orgId: string, rootTaskId: string, options: PageRequest): Promise<TeamMessageRow[]> {
  const page = keyset(tx, ['m.created_at', 'm.id'], options, 'asc');
  return tx<TeamMessageRow[]>`
    select m.id, m.root_task_id as "rootTaskId", m.from_task_id as "fromTaskId", m.from_name as "fromName",
      m.to_task_id as "toTaskId", m.to_name as "toName", m.content, m.summary,
      to_json(m.created_at)#>>'{}' as "createdAt", to_json(m.delivered_at)#>>'{}' as "deliveredAt"
    from staffroom.team_messages m
    where m.organization_id = ${orgId} and m.root_task_id = ${rootTaskId}
      ${page.after}
    ${page.orderAndLimit}`;
}
