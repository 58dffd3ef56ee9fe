// Starts the real app (express hosting the core, as `npm start` does) on an ephemeral loopback port.
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createApp } from '../../src/http/app.js';
import { contract } from '../../src/http/contract.js';
import { createWebServer } from '../../src/http/adapters/express.js';
import { createLocalAuth, prepareLocalAuth } from '../../src/services/local-auth.js';
import { createHttpServer, type ReceiveTimeouts } from '../../src/http/adapters/node.js';
import { createStaffroomClient, type StaffroomClient, type StaffroomClientOptions } from '../../sdk/index.js';
import { contractCheck } from './contract.js';
import { ping, type Db } from '../../src/db/client.js';
import type { AppDeps } from '../../src/kernel/context.js';
import { loadConfig } from '../../src/config.js';
import type { InvitationMailer } from '../../src/integrations/supabase.js';
import { createTokenVerifier, localIssuer, mintAccessToken } from '../../src/services/identity.js';

export interface TestServer {
  baseUrl: string;
  client(options?: Omit<StaffroomClientOptions, 'baseUrl'>): StaffroomClient;
  close(): Promise<void>;
}

export const testJwtSecret = 'test-secret-for-hs256-tokens-only-in-tests-0123456789';

export async function startTestServer(
  options: {
    maxBodyBytes?: number;
    pingDatabase?: () => Promise<void>;
    db?: Db;
    mailer?: InvitationMailer;
    stripe?: AppDeps['stripe'];
    corsOrigins?: string[];
    /** Count requests against the database's budgets; off by default, so other tests may make as many as they need. */
    rateLimits?: boolean;
    /** The LLM providers the deployment is configured for; every one unless given. */
    providers?: string[];
    /** Webhook endpoints may be local addresses (the tests' receivers). */
    allowPrivateWebhookUrls?: boolean;
    /** Answers for the names of webhook URLs, instead of the system's DNS. */
    resolveWebhookHost?: AppDeps['resolveWebhookHost'];
    /** How long a request may take to arrive; `npm start`'s defaults unless given. */
    receiveTimeouts?: Partial<ReceiveTimeouts>;
    /** The page served at /docs; a stand-in unless given (the built Redoc page is `readDocs` from src/docs.ts). */
    docsHtml?: () => Promise<string | undefined>;
    /** Answer Supabase Auth's sign-in endpoints under /auth/v1 for local users, as `npm start` does. */
    localAuth?: boolean;
  } = {},
): Promise<TestServer> {
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  const { db } = options;
  const verifyAccessToken = createTokenVerifier({ jwtSecret: testJwtSecret, issuer: localIssuer, audience: 'authenticated' });
  const localAuth =
    options.localAuth && db
      ? await prepareLocalAuth(db).then(() => createLocalAuth({ db, jwtSecret: testJwtSecret, verifyAccessToken }))
      : undefined;
  const app = await createApp({
    deps: {
      version: contract.info.version,
      db,
      pingDatabase: options.pingDatabase ?? (db ? () => ping(db) : undefined),
      verifyAccessToken,
      mailer: options.mailer,
      stripe: options.stripe,
      invitationUrl: 'https://app.example.com/invitations/accept',
      providers: options.providers ? new Set(options.providers) : undefined,
      allowPrivateWebhookUrls: options.allowPrivateWebhookUrls,
      resolveWebhookHost: options.resolveWebhookHost,
    },
    log: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    validateResponses: true,
    maxBodyBytes,
    corsOrigins: options.corsOrigins,
    rateLimits: options.rateLimits,
  });
  const timeouts = { ...loadConfig({}).receiveTimeouts, ...options.receiveTimeouts };
  const server = createHttpServer(
    createWebServer(app, {
      maxBodyBytes,
      bodyIdleTimeoutMs: timeouts.bodyIdleMs,
      docsHtml: options.docsHtml ?? (async () => '<html>docs</html>'),
      localAuth,
    }),
    timeouts,
  ).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    // Tests assert the service's own answers (a 429, a 503): the SDK's retries are off unless a test asks for them.
    client: (clientOptions = {}) => withContractCheck(createStaffroomClient({ baseUrl, retries: 0, ...clientOptions })),
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export function withContractCheck(client: StaffroomClient): StaffroomClient {
  client.use(contractCheck);
  return client;
}

export interface TestUser {
  id: string;
  email: string;
  token: string;
}

/** A user as Supabase Auth would have it (a row in auth.users) with a valid access token. */
export async function signUp(db: Db, email: string, options: { name?: string } = {}): Promise<TestUser> {
  const id = crypto.randomUUID();
  await db`insert into auth.users (id, email) values (${id}, ${email})`;
  const token = await mintAccessToken({ secret: testJwtSecret, userId: id, email, name: options.name });
  return { id, email, token };
}
