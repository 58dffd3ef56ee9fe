// What `npm start` prints once it listens: where to go and what this setup has on. Names variables, never
// their values: the block lands in terminals and CI logs.

export interface BannerInfo {
  host: string;
  port: number;
  database: { mode: 'embedded'; dataDir: string } | { mode: 'external' };
  env: Readonly<Record<string, string | undefined>>;
}

/** A URL for people: the address a browser can open, no credentials, query or fragment. */
function displayUrl(value: string): string {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '(not a URL)';
  }
}

function baseUrl(host: string, port: number): string {
  // Bound to every interface: the loopback address is the one that opens on this machine.
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

export function startupBanner(info: BannerInfo): string {
  const { env } = info;
  const url = baseUrl(info.host, info.port);
  const database = info.database.mode === 'embedded' ? `${info.database.dataDir} (embedded Postgres)` : 'DATABASE_URL';
  const auth = env.SUPABASE_URL
    ? `Supabase (${displayUrl(env.SUPABASE_URL)})`
    : env.SUPABASE_JWT_SECRET
      ? 'Supabase (SUPABASE_JWT_SECRET)'
      : info.database.mode === 'embedded'
        ? `local: supabase-js signs up and in at ${url} (any anon key), or npm run token -- you@example.com`
        : 'off: signed-in operations answer 503 (set SUPABASE_URL or SUPABASE_JWT_SECRET)';
  const openaiBase = env.OPENAI_BASE_URL ? `, ${displayUrl(env.OPENAI_BASE_URL)}` : '';
  const on = (variable: string, extra = ''): string => (env[variable] ? `on (${variable}${extra})` : `off (set ${variable})`);
  const rows: [string, string][] = [
    ['API', url],
    ['Docs', `${url}/docs`],
    ['Contract', `${url}/v1/openapi.json`],
    ['Database', database],
    ['Auth', auth],
    ['Stripe', on('STRIPE_SECRET_KEY')],
    ['OpenAI-compatible', on('OPENAI_API_KEY', openaiBase)],
    ['Anthropic', on('ANTHROPIC_API_KEY')],
    ['Offline models', 'on (always)'],
    [
      'Webhooks',
      env.WEBHOOKS_ALLOW_PRIVATE_URLS === 'true'
        ? 'sending, local addresses allowed (WEBHOOKS_ALLOW_PRIVATE_URLS)'
        : 'sending to public addresses only',
    ],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return ['', 'Staffroom is ready', ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`), ''].join('\n');
}
