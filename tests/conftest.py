"""Shared fixtures: the embedded Tansu broker (tests/broker.py) for integration tests."""

pytest_plugins = ["tests.broker", "tests.workers"]
