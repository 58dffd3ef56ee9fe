-- A rate-limit count is one statement that commits on its own (one round trip, and a bucket's row lock is held
-- only while the statement runs, never across a COMMIT sent from the server). Its waits are bounded like a
-- request's transaction: the server gives up on a connection after 1.5 s, and a lock not granted within the
-- same time (a table locked by a migration or a stuck transaction) fails the count, which answers 503.
alter function staffroom.take_rate_limit(text[], integer[], integer[], uuid) set lock_timeout = '1500ms';
