"""Prometheus metrics (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ACCEPTED = Counter("hub_packages_accepted_total", "Packages accepted (new, not repeats)", ["kind"])
REPEATED = Counter(
    "hub_packages_repeated_total", "Identical packages submitted again (same receipt returned)"
)
REFUSED = Counter(
    "hub_packages_refused_total",
    "Packages refused at submission (POST /v1/packages), by stable code; other refused "
    "requests (401, 404, dry runs) are not packages and are not counted",
    ["code"],
)
LEGACY_SIGNED = Counter(
    "hub_packages_legacy_signed_total",
    "Packages accepted under the legacy signing profile (C14N 1.0, RSA-SHA1), per sender: "
    "the agencies that still have to upgrade",
    ["sender"],
)
INGEST_SECONDS = Histogram(
    "hub_ingest_seconds",
    "Time from request body received to receipt",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DELIVERIES = Counter(
    "hub_deliveries_total", "Delivery outcomes (available, pushed, retry, dead)", ["outcome"]
)
ACKS = Counter("hub_acks_total", "Acknowledgements by recipients (first acks only)")
UNSIGNED_ENVELOPES = Counter(  # issue 11: envelope_signature = "optional"
    "hub_unsigned_envelopes_total",
    "Packages accepted without an edXML signature (signature.envelope_unsigned), per sender",
    ["agency"],
)
PACKAGES_STORED = Gauge("hub_packages_stored", "Packages in the store at the last readiness check")

# -- dashboard (issue 6): hub-wide figures read from the store by the dashboard's pulse, so
# every hub process reports the same values (scrape one, or aggregate with max, not sum).
QUEUE_DEPTH = Gauge(
    "hub_queue_depth",
    "Deliveries not yet acknowledged, per recipient agency and state",
    ["agency", "state"],
)
DEAD_LETTERS = Gauge("hub_dead_letters", "Dead-lettered deliveries not discarded by an operator")
# Deprecated and no longer exported: ``hub_open_alarms`` duplicated ``hub_alarms_open{kind}``
# (use ``sum(hub_alarms_open)``). Kept as an unregistered gauge so its writers need no change.
OPEN_ALARMS = Gauge("hub_open_alarms", "Deprecated: use sum(hub_alarms_open)", registry=None)
DELIVERY_SECONDS = Histogram(
    "hub_delivery_latency_seconds",
    "From acceptance to the package reaching the recipient (in its inbox, or pushed)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)
OPERATOR_ACTIONS = Counter(
    "hub_operator_actions_total", "Operator actions on the dashboard", ["action"]
)

# -- lifecycle (issue 5) -----------------------------------------------------------------------
ALARMS_OPEN = Gauge(
    "hub_alarms_open", "Open lifecycle/SLA alarms at the last evaluation, per kind", ["kind"]
)
ALARMS_NOTIFIED = Counter("hub_alarms_notified_total", "Alarms notified (once each)", ["kind"])

# -- online revocation (issue 14): fetches counted where the hub process sees them (its own
# refresh and the workers' fetches returned with each check); cache figures from the store.
REVOCATION_FETCHES = Counter(
    "hub_revocation_fetches_total",
    "CRL/OCSP fetch attempts, by kind and outcome",
    ["kind", "outcome"],
)
REVOCATION_CACHE_ITEMS = Gauge("hub_revocation_cache_items", "CRLs and OCSP answers in the cache")
REVOCATION_CACHE_AGE = Gauge(
    "hub_revocation_cache_age_seconds", "Age of the oldest cached CRL/OCSP answer (since fetched)"
)
REVOCATION_SOURCES_UNREACHABLE = Gauge(
    "hub_revocation_sources_unreachable",
    "Revocation sources failing for longer than the alarm threshold",
)
