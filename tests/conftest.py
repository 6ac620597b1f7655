"""Shared fixtures: the embedded Tansu broker (tests/broker.py) for integration tests, `form4 worker`
subprocesses on it (tests/workers.py), and a throwaway PostgreSQL server (tests/postgres.py) for the
history-store tests."""

pytest_plugins = ["tests.broker", "tests.workers", "tests.postgres"]
