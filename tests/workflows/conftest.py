"""Fixtures of the workflow tests."""

import pytest

from ..webhook_receiver import start_receiver


@pytest.fixture
def local_receiver():
    """A real HTTP server on 127.0.0.1 standing in for the outside world, shut down after the test."""
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()
