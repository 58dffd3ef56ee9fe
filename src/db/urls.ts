// What a Postgres connection string says about the connection behind it: a transaction pooler (no prepared
// statements, no LISTEN), Supabase's pooler (whose session mode is the same host on port 5432), and a form of it
// fit for logs (no user, no password).

/** Supabase's shared pooler (Supavisor): transaction mode on port 6543, session mode on port 5432. */
const supabasePooler = /\.pooler\.supabase\.com$/i;
/** The port poolers in transaction mode conventionally take (Supabase's shared and dedicated poolers do). */
export const transactionPoolerPort = '6543';
export const sessionPoolerPort = '5432';

interface Authority {
  /** Where the host starts in the string, and where its port (if any) ends. */
  start: number;
  end: number;
  host: string;
  port: string | undefined;
}

/** The host and port of a `postgres://` or `postgresql://` URL, without parsing (or logging) its password. */
function authority(url: string): Authority | undefined {
  const scheme = /^postgres(?:ql)?:\/\//i.exec(url);
  if (!scheme) return undefined;
  const rest = url.slice(scheme[0].length);
  const stop = rest.search(/[/?#]/);
  const hostPart = stop === -1 ? rest : rest.slice(0, stop);
  // The password may hold '@' when percent-encoding was forgotten: the host follows the last one.
  const at = hostPart.lastIndexOf('@');
  const hostAndPort = hostPart.slice(at + 1);
  const match = /^(.*?)(?::(\d+))?$/.exec(hostAndPort)!;
  const start = scheme[0].length + at + 1;
  return { start, end: start + hostAndPort.length, host: match[1]!, port: match[2] };
}

/** `host:port/database` of a URL, for logs: never the user or the password. */
export function describeDatabaseUrl(url: string): string {
  const parts = authority(url);
  if (!parts) return 'an unparseable database URL';
  const database = /^[^?#]*?\/([^/?#]*)/.exec(url.slice(parts.end))?.[1];
  return `${parts.host}:${parts.port ?? '5432'}${database ? `/${decodeURIComponent(database)}` : ''}`;
}

/** Whether the URL is a Postgres URL at all (postgres:// or postgresql:// with a host). */
export function isDatabaseUrl(url: string): boolean {
  const parts = authority(url);
  return parts !== undefined && parts.host !== '';
}

/**
 * Whether queries on this URL must go without prepared statements: Supabase's pooler, any pooler on port 6543,
 * or a URL that says so itself (`?prepare=false`, the way to name another transaction pooler such as PgBouncer).
 */
export function needsUnpreparedStatements(url: string): boolean {
  const parts = authority(url);
  if (parts && (supabasePooler.test(parts.host) || parts.port === transactionPoolerPort)) return true;
  return /[?&]prepare=(false|disable)(&|#|$)/i.test(url);
}

/** Whether the URL points at a pooler in transaction mode, by its port (6543, as Supabase's poolers are). */
export function isTransactionPooler(url: string): boolean {
  return authority(url)?.port === transactionPoolerPort;
}

/**
 * Why migrations cannot run on this URL, if they cannot: they hold a session's advisory lock across one
 * transaction per file, which a transaction pooler does not keep (each transaction may get another connection).
 */
export function migrationUrlProblem(url: string): string | undefined {
  if (!isTransactionPooler(url)) return undefined;
  return (
    `DATABASE_URL is a transaction pooler (${describeDatabaseUrl(url)}): migrations need one session. ` +
    `Use the session pooler (the same host on port ${sessionPoolerPort}) or the direct connection for this step.`
  );
}

/**
 * The session-mode URL of Supabase's shared pooler for its transaction-mode URL (`*.pooler.supabase.com:6543`):
 * the same URL on port 5432, as Supabase documents. Undefined for any other URL.
 */
export function supabaseSessionUrl(url: string): string | undefined {
  const parts = authority(url);
  if (!parts || !supabasePooler.test(parts.host) || parts.port !== transactionPoolerPort) return undefined;
  return `${url.slice(0, parts.start)}${parts.host}:${sessionPoolerPort}${url.slice(parts.end)}`;
}
