-- Stripe: one customer per organization, the subscription as Stripe last reported it, credit purchases
-- (to reverse on refund), and the ids of processed events (recorded in the same transaction as their effects).
create table public.billing_customers (
  organization_id uuid primary key references public.organizations (id) on delete cascade,
  stripe_customer_id text not null unique,
  created_at timestamptz not null default now()
);

create table public.subscriptions (
  organization_id uuid primary key references public.organizations (id) on delete cascade,
  stripe_subscription_id text not null unique,
  plan_id text not null check (plan_id in ('free', 'starter', 'pro')),
  status text not null,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  -- event.created of the newest event applied: an older event never overwrites a newer state.
  last_event_created bigint not null,
  updated_at timestamptz not null default now()
);

create table public.credit_purchases (
  checkout_session_id text primary key,
  organization_id uuid not null references public.organizations (id) on delete cascade,
  payment_intent_id text unique,
  credits bigint not null check (credits > 0),
  amount_cents bigint not null check (amount_cents >= 0),
  refunded_credits bigint not null default 0 check (refunded_credits >= 0 and refunded_credits <= credits),
  created_at timestamptz not null default now()
);
create index credit_purchases_organization_idx on public.credit_purchases (organization_id);

create table public.stripe_events (
  id text primary key,
  type text not null,
  created bigint not null,
  processed_at timestamptz not null default now()
);

alter table public.billing_customers enable row level security;
alter table public.subscriptions enable row level security;
alter table public.credit_purchases enable row level security;
alter table public.stripe_events enable row level security;

create policy billing_customers_select on public.billing_customers for select to authenticated
  using (public.org_role(organization_id) is not null);
create policy subscriptions_select on public.subscriptions for select to authenticated
  using (public.org_role(organization_id) is not null);
create policy credit_purchases_select on public.credit_purchases for select to authenticated
  using (public.org_role(organization_id) in ('owner', 'admin'));
-- stripe_events: no policy; only the service role (webhooks) reads and writes it.

revoke all on public.billing_customers, public.subscriptions, public.credit_purchases, public.stripe_events from anon, authenticated;
grant select on public.billing_customers, public.subscriptions, public.credit_purchases to authenticated;
grant all on public.billing_customers, public.subscriptions, public.credit_purchases, public.stripe_events to service_role;
