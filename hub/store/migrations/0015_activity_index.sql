-- Each agency's last activity in one index seek (issue 12, docs/performance.md "Periodic reads
-- that grow with the database"). The same script for SQLite and PostgreSQL.
--
-- The silent-agency alarm reads, every minute, when each agency last received a package: the
-- latest acknowledgement of a delivery to it, or the latest delivery handed to it. Without an
-- index on that time the read visited every delivery ever made. Only delivered and acked
-- deliveries are in the index (an acked delivery is never moved again, so it is written once
-- more at most, when it is acknowledged). Sending is already indexed: packages_sender_time
-- (sender, accepted_at), migration 0003.
CREATE INDEX deliveries_received ON deliveries (recipient, (COALESCE(acked_at, updated_at)))
    WHERE state IN ('delivered', 'acked');
