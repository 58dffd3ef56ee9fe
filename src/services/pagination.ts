// Cursors as clients see them: opaque, base64url, and refused with a 400 when forged.
import { validationError } from '../kernel/errors.js';
import type { Cursor, PageRequest } from '../db/keyset.js';

function encodeCursor(row: { createdAt: string; id: string }): string {
  return Buffer.from(JSON.stringify({ t: row.createdAt, i: row.id })).toString('base64url');
}

function decodeCursor(cursor: string | undefined): Cursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const { t, i } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { t?: unknown; i?: unknown };
    if (
      typeof t === 'string' &&
      isTimestamp(t) &&
      typeof i === 'string' &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(i)
    ) {
      return { createdAt: t, id: i };
    }
  } catch {
    // fall through
  }
  throw validationError('query.cursor', 'is not a cursor this API returned');
}

const timestampShape = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** A timestamp as Postgres writes it (`to_json(timestamptz)`), on a real calendar day: what Postgres reads back. */
function isTimestamp(text: string): boolean {
  const match = timestampShape.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
}

/** Fetch limit + 1 rows; the extra one says whether there is a next page. */
function toPage<T extends { createdAt: string; id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/** Decodes the cursor, fetches limit + 1 rows after it, and cuts the page: the one shape of every list. */
export async function paginate<T extends { createdAt: string; id: string }>(
  query: { limit?: number; cursor?: string },
  fetch: (page: PageRequest) => Promise<T[]>,
): Promise<{ items: T[]; nextCursor: string | null }> {
  const limit = query.limit ?? 20;
  return toPage(await fetch({ limit, after: decodeCursor(query.cursor) }), limit);
}
