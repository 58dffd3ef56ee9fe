// What a request runs with: its context, and the long-lived parts (dependencies) the app is built from.
// The parts are described here as the app uses them; db/ and integrations/ provide them.
import type { Logger } from 'pino';
import type { Sql, TransactionSql } from 'postgres';
import type Stripe from 'stripe';
import type { Caller, VerifiedUser } from './caller.js';

/** What every handler and service receives: explicit, per request. */
export interface RequestContext {
  /** The id the response and the logs carry: the client's X-Request-Id when it sent a sensible one. */
  requestId: string;
  /** An id this server made (`req_` and 32 hex digits): the only one passed to the database and audited. */
  serverRequestId: string;
  log: Logger;
  deps: AppDeps;
  /** Epoch milliseconds past which the request answers 503 and its transaction rolls back. */
  deadline: number;
  /** Set by the security handlers before any handler of a secured operation runs. */
  caller?: Caller;
  /**
   * Set while a request with an Idempotency-Key runs: keeps its response in the transaction that makes its
   * resource, so that a crash leaves both or neither (http/idempotency.ts keptWith).
   */
  keepResponse?: (tx: TransactionSql, response: KeptResponse) => Promise<void>;
}

/** A response as an Idempotency-Key keeps and replays it. */
export interface KeptResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Long-lived parts the app is built from; adapters and tests construct them. */
export interface AppDeps {
  /** Pings the database; absent when none is configured. */
  pingDatabase?: () => Promise<void>;
  version: string;
  db?: Sql;
  verifyAccessToken?: (token: string) => Promise<VerifiedUser>;
  /** Public URL of the app page that accepts invitations; `?token=` is appended. */
  invitationUrl?: string;
  /** Told when a task was queued (wakes the in-process worker, or kicks the background function). */
  onTaskCreated?: (taskId: string) => void;
  /** Told when a webhook delivery was queued by a request (a redelivery): wakes the dispatcher. */
  onWebhookQueued?: () => void;
  /** Webhook URLs may resolve to private and loopback addresses (WEBHOOKS_ALLOW_PRIVATE_URLS=true, local development). */
  allowPrivateWebhookUrls?: boolean;
  /** Resolves a webhook URL's host name to its addresses; the system resolver unless given (tests give their own). */
  resolveWebhookHost?: (hostname: string) => Promise<string[]>;
  /** Stripe settings and client (absent client: STRIPE_SECRET_KEY is not set). */
  stripe?: { config: StripeConfig; client?: () => Promise<Stripe> };
  /** Emails invitations when a Supabase project is configured. */
  mailer?: InvitationMailer;
  /** The LLM providers this deployment can call (`offline` always); absent, every provider is taken as configured. */
  providers?: ReadonlySet<string>;
}

export interface StripeConfig {
  secretKey?: string;
  webhookSecret?: string;
  apiBase?: string;
  /** Price ids by plan or credit pack id. */
  prices: Partial<Record<'starter' | 'pro' | 'credits-100k' | 'credits-1m', string>>;
  /** Origins that checkout and portal return URLs may point at. */
  redirectOrigins: string[];
}

/** Emails an invitation (Supabase Auth's admin API when a project is configured). */
export interface InvitationMailer {
  sendInvitation(email: string, acceptUrl: string, organizationName: string): Promise<void>;
}
