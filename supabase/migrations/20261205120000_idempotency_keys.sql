-- Idempotent POSTs: the first successful response to a caller's Idempotency-Key, kept 24 hours and replayed
-- to a retry of the same request. The key itself is never stored: rows are found by a hash of the caller and
-- the key, and the response (which may carry a secret shown once, like a new API key) is encrypted under a
-- key derived from the Idempotency-Key, so that only the client that chose it can have it replayed.
create table staffroom.idempotency_keys (
  key_hash text primary key check (key_hash ~ '^[0-9a-f]{64}$'),
  operation text not null,
  request_hash text not null check (request_hash ~ '^[0-9a-f]{64}$'),
  state text not null check (state in ('running', 'done')),
  response bytea,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  check ((state = 'done') = (response is not null))
);
create index idempotency_keys_expires_at_idx on staffroom.idempotency_keys (expires_at);
alter table staffroom.idempotency_keys enable row level security;
-- No policy and no grant: only the API server, as the schema's owner, reads and writes it.
