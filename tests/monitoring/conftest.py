"""Fixtures for the probes and metrics: the cutting proxy of the provisioning tests, and free ports."""

import socket

import pytest

from tests.provisioning.conftest import proxy  # noqa: F401  (the API server behind a proxy the test can cut)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connections to it are refused."""
    return free_port()


def free_port() -> int:
    """A port free now; whoever binds it next gets it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
