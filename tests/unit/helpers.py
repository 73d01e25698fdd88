"""Small builders shared by the unit tests."""

import copy
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MINIRUN = os.path.join(REPO, "minirun.py")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "engine-configs")

BASE_CONFIG = {
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs"},
    "process": {"args": ["sh"], "cwd": "/"},
    "linux": {"namespaces": [{"type": "mount"}]},
}


def base_config(**overrides):
    """A minimal valid config.json as a dict; top-level keys replaced by overrides."""
    raw = copy.deepcopy(BASE_CONFIG)
    raw.update(copy.deepcopy(overrides))
    return raw


def with_namespaces(raw, *kinds):
    """raw with linux.namespaces set to mount plus `kinds` (each new, no path)."""
    raw.setdefault("linux", {})["namespaces"] = [{"type": k} for k in ("mount",) + kinds]
    return raw


def cli_argv(*args):
    """minirun.py run as a program, as engines call it (its sh header then
    starts $MINIRUN_PYTHON on the cached bytecode)."""
    return [MINIRUN] + [str(a) for a in args]


def cli_env(env=None):
    env = dict(os.environ if env is None else env)
    env["MINIRUN_PYTHON"] = sys.executable  # the Python under test, not whatever /usr/bin has
    return env


def run_cli(*args, cwd=None, env=None, timeout=20):
    """Run the real minirun.py; returns the CompletedProcess (text mode)."""
    return subprocess.run(cli_argv(*args), cwd=cwd, env=cli_env(env),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


class StandInConfig:
    """What _parse_process needs of a Config: the list it adds unsupported fields to."""

    def __init__(self):
        self.unsupported = []
