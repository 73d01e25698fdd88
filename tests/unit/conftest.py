"""Harness for the unit tests of minirun.py.

Unit tests need no root and no kernel privileges: they exercise the parsing,
validation, state, path and hook code against real files, pipes and child
processes in each test's own ``tmp_path`` (so pytest-xdist workers never
share anything), and run the real file as a subprocess for the command line.
"""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def pytest_configure(config):
    """Tests that need the engine fixtures are never skipped for lack of
    them: without them the run fails, saying what is missing."""
    from .helpers import FIXTURES, missing_fixtures

    problem = missing_fixtures(FIXTURES)
    if problem:
        raise pytest.UsageError(problem)


@pytest.fixture
def sleeper():
    """A real process to stand in for a container's init."""
    child = subprocess.Popen(["sleep", "30"])
    yield child
    if child.poll() is None:
        child.kill()
    child.wait()
