"""Small builders shared by the unit tests."""

import copy
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MINIRUN = os.path.join(REPO, "minirun.py")
# The engines' real configs, copied into the repository (it stands alone).
FIXTURES = os.path.join(REPO, "tests", "fixtures", "engine-configs")
BUNDLES = os.path.join(REPO, "bundles")


def engine_fixtures(pattern):
    """Names of the engine fixture files matching a glob pattern (sorted; [] without fixtures)."""
    import glob

    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, pattern)))


def load_json(path):
    import json

    with open(path) as handle:
        return json.load(handle)


def missing_fixtures(directory):
    """None when `directory` holds the engine fixtures; else why not (the
    suites fail their run with it rather than skip what needs them)."""
    import glob

    if not glob.glob(os.path.join(str(directory), "*.config.json")):
        return ("the engine fixtures are missing: no *.config.json in %s (they come with the "
                "repository; restore that directory)" % directory)
    return None

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


def unwritable_python():
    """(path, fd): this interpreter from a file no one can write through,
    made as minirun makes it for itself (a read-only bind mount, or a sealed
    memfd without privilege). Run it with subprocess's executable=path,
    pass_fds=(fd,), and close fd after."""
    import minirun

    fd = minirun.unwritable_executable(minirun.kernel(), os.path.realpath(sys.executable))
    return "/proc/self/fd/%d" % fd, fd
