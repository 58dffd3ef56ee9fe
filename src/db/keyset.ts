// Keyset pagination on (created_at, id): the one way every list query pages.
import type { Tx } from './client.js';

/**
 * The position after the last row of a page. `createdAt` keeps Postgres's microseconds: it is compared as
 * `::text::timestamptz`, since a parameter typed as a timestamp goes through a JS Date and loses them (rows of
 * the same millisecond would be skipped or repeated).
 */
export interface Cursor {
  createdAt: string;
  id: string;
}

/** A page to fetch: `limit` rows after `after`. */
export interface PageRequest {
  limit: number;
  after?: Cursor;
}

/**
 * The fragments of a keyset page over the given `time` and `id` columns (`alias.column`): `after` continues
 * the `where` clause, `orderAndLimit` ends the query and fetches one row more than the page, which tells
 * whether there is a next one. Newest first unless `order` is `asc`.
 */
export function keyset(tx: Tx, columns: readonly [time: string, id: string], page: PageRequest, order: 'asc' | 'desc' = 'desc') {
  const time = tx(columns[0]);
  const id = tx(columns[1]);
  const position = page.after && tx`(${page.after.createdAt}::text::timestamptz, ${page.after.id}::uuid)`;
  return {
    after: !position ? tx`` : order === 'desc' ? tx`and (${time}, ${id}) < ${position}` : tx`and (${time}, ${id}) > ${position}`,
    orderAndLimit:
      order === 'desc'
        ? tx`order by ${time} desc, ${id} desc limit ${page.limit + 1}`
        : tx`order by ${time}, ${id} limit ${page.limit + 1}`,
  };
}
