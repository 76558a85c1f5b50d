"""Fixtures for the audit tests: a running hub (from tests/api)."""

from tests.api.conftest import hub  # noqa: F401  # fixture re-exported for tests/audit
