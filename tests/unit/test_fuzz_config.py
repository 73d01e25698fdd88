"""Section 3 under fuzzing: hostile config.json is refused naming a field.

The engines' own configs (docker, podman, crun and runc fixtures) are
mutated by a seeded, deterministic generator: wrong types, missing keys, huge
and negative numbers, NUL bytes, lone surrogates (undecodable bytes), deep
nesting, unknown enum values, unknown keys. For every mutation, parsing either
yields a Config that the pure planning steps accept, or raises the runtime's
own ConfigError naming a field - never another exception (a traceback, an
OverflowError, a silently truncated string at the kernel).

load_config gets a share of the mutations as bytes on disk, with the file
level ones added (invalid UTF-8, nesting deeper than Python's recursion).
The counts are printed (pytest -s shows them)."""

import copy
import glob
import json
import os
import random

import pytest

import minirun

from .helpers import BASE_CONFIG, FIXTURES, REPO

SEED = 20261129
MUTATIONS_PER_CONFIG = 400
BUNDLE = "/bundles/fuzz"

REPO_FIXTURES = os.path.join(REPO, "tests", "fixtures", "engine-configs")

# Values a field of any type may be replaced with.
WRONG_VALUES = (
    None, True, False, 0, 1, -1, 7, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 63, 2 ** 64,
    -2 ** 63, -2 ** 64, 10 ** 30, 1.5, float("nan"), float("inf"), "", "x", "/", "..", "a\0b",
    "\0", "\udcff", "caf\u00e9", "\ud800x", "\n", "mode=755\0x", [], [None], [1, "a"], {}, {"": 1},
    {"\0": "x"},
)
UNKNOWN_ENUMS = ("BOGUS", "SCMP_ARCH_Z80", "SCMP_ACT_EXPLODE", "RLIMIT_BOGUS", "netns", "q", "LINUX64",
                 "CAP_BOGUS", "slave2", "SCMP_CMP_XOR")
INTEGER_EXTREMES = (-1, -2 ** 31, 2 ** 12, 2 ** 20, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32,
                    2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 64, 10 ** 40)


def seed_configs():
    """(name, raw config) for every engine fixture, plus the minimal config
    the unit helpers use (so the test runs even without any fixture)."""
    directory = REPO_FIXTURES if os.path.isdir(REPO_FIXTURES) else FIXTURES
    seeds = [("minimal", copy.deepcopy(BASE_CONFIG))]
    for path in sorted(glob.glob(os.path.join(directory, "*.config.json"))):
        with open(path) as handle:
            seeds.append((os.path.basename(path), json.load(handle)))
    return seeds


def node_paths(value, prefix=()):
    """Every path (tuple of keys and indexes) into a JSON value, the root included."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += node_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += node_paths(item, prefix + (index,))
    return paths


def get(value, path):
    for step in path:
        value = value[step]
    return value


def deep(depth, leaf):
    for _ in range(depth):
        leaf = [leaf] if depth % 2 else {"k": leaf}
    return leaf


class Seed:
    """A config to mutate: its JSON text (a fresh copy per mutation, faster
    than deepcopy) and the paths to its nodes."""

    def __init__(self, name, raw):
        self.name = name
        self.text = json.dumps(raw)
        self.paths = [p for p in node_paths(raw) if p]

    def copy(self):
        return json.loads(self.text)


def mutate(seed, rng):
    """One mutation of a fresh copy of the seed: returns (description, config)."""
    raw = seed.copy()
    path = rng.choice(seed.paths)
    parent, key = get(raw, path[:-1]), path[-1]
    node = parent[key]
    where = ".".join(str(step) for step in path)
    choice = rng.randrange(10)
    if choice == 0 and isinstance(parent, dict):
        del parent[key]
        return "delete " + where, raw
    if choice == 1 and isinstance(node, str):
        at = rng.randrange(len(node) + 1)
        parent[key] = node[:at] + rng.choice(("\0", "\udcff", "\ud800", "\0/x")) + node[at:]
        return "inject into " + where, raw
    if choice == 2 and isinstance(node, int) and not isinstance(node, bool):
        parent[key] = rng.choice(INTEGER_EXTREMES)
        return "extreme number at " + where, raw
    if choice == 3 and isinstance(node, str):
        parent[key] = rng.choice(UNKNOWN_ENUMS)
        return "unknown value at " + where, raw
    if choice == 4:
        parent[key] = deep(rng.choice((20, 200, 2000, 5000)), rng.choice(("x", 1, None)))
        return "deep nesting at " + where, raw
    if choice == 5 and isinstance(node, dict):
        node[rng.choice(("bogus", "\udcff", "a\0b", "", "path", "type"))] = rng.choice(WRONG_VALUES)
        return "extra key in " + where, raw
    if choice == 6 and isinstance(node, list):
        if node and rng.random() < 0.5:
            node.append(copy.deepcopy(rng.choice(node)))  # a duplicate entry
        else:
            node.append(rng.choice(WRONG_VALUES))
        return "extra item in " + where, raw
    if choice == 7 and isinstance(node, dict) and node:
        del node[rng.choice(sorted(node, key=str))]
        return "drop a key of " + where, raw
    parent[key] = rng.choice(WRONG_VALUES)
    return "replace " + where, raw


def check_parse(raw, description, compile_seccomp=True):
    """'accepted' or 'refused'; anything else fails the test."""
    try:
        cfg = minirun.parse_config(raw, BUNDLE)
        plan(cfg, compile_seccomp)
    except minirun.ConfigError as exc:
        assert exc.field, description
        assert "\n" not in str(exc), (description, str(exc))
        return "refused"
    except Exception as exc:  # noqa: B902 - the point: no other exception may escape
        pytest.fail("%s: %s: %s" % (description, type(exc).__name__, exc))
    return "accepted"


def kernel_strings(value, where="cfg"):
    """(where, string) for every string a Config holds, through its plain objects."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from kernel_strings(key, where + " key")
            yield from kernel_strings(item, "%s[%r]" % (where, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from kernel_strings(item, "%s[%d]" % (where, index))
    elif hasattr(value, "__slots__"):
        for name in value.__slots__:
            yield from kernel_strings(getattr(value, name, None), "%s.%s" % (where, name))


def plan(cfg, compile_seccomp=True):
    """The pure decisions create takes from a Config before any clone, and
    what an accepted Config promises the kernel: C strings that end where
    they seem to, and text that is text."""
    for where, text in kernel_strings(cfg):
        assert "\0" not in text, "accepted a NUL in %s" % where
        text.encode("utf-8")  # UnicodeEncodeError: accepted a lone surrogate
    for device in cfg.devices:
        assert device.major < 1 << 12 and device.minor < 1 << 20, "accepted a dev_t mknod cannot take"
    minirun.check_sysctl_targets(cfg, lambda path, kind: path.startswith("/proc/"))
    minirun.plan_capabilities(cfg.process)
    minirun.process_environment(cfg.process, [])
    if compile_seccomp and cfg.seccomp is not None and os.uname().machine in minirun.NATIVE_SECCOMP_ARCH:
        minirun.compile_seccomp(cfg.seccomp, os.uname().machine)


def check_load(tmp_path, data, description):
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "config.json").write_bytes(data)
    try:
        cfg = minirun.load_config(str(bundle))
        plan(cfg)
    except minirun.Error as exc:
        assert str(exc).startswith("config.json"), (description, str(exc))
        assert "\n" not in str(exc), (description, str(exc))
        return "refused"
    except Exception as exc:  # noqa: B902
        pytest.fail("%s: %s: %s" % (description, type(exc).__name__, exc))
    return "accepted"


def to_json_bytes(raw):
    # Python's json writes a lone surrogate as the escape "\udcff", as a
    # hostile file would; surrogatepass covers the few written raw.
    return json.dumps(raw, allow_nan=True).encode("utf-8", "surrogatepass")


@pytest.fixture
def quiet_log():
    """Warnings (unknown capabilities...) are part of accepting; keep them off stderr."""
    saved = minirun.LOG.threshold
    minirun.LOG.threshold = len(minirun.Log.LEVELS)
    yield
    minirun.LOG.threshold = saved


def test_mutated_engine_configs_are_parsed_or_refused_naming_a_field(tmp_path, quiet_log):
    rng = random.Random(SEED)
    counts = {"mutations": 0, "accepted": 0, "refused": 0, "through load_config": 0}
    seeds = [Seed(name, raw) for name, raw in seed_configs()]
    for seed in seeds:
        assert check_parse(seed.copy(), seed.name + " unmutated") == "accepted", seed.name
        for _ in range(MUTATIONS_PER_CONFIG):
            description, mutated = mutate(seed, rng)
            description = "%s: %s" % (seed.name, description)
            # The seccomp compiler runs when the mutation is in the profile;
            # elsewhere the profile is the seed's, compiled above.
            counts[check_parse(mutated, description, " linux.seccomp" in description)] += 1
            counts["mutations"] += 1
            if counts["mutations"] % 20 == 0 and "deep nesting" not in description:
                # through the file too (json.dumps itself recurses on deep nesting)
                check_load(tmp_path, to_json_bytes(mutated), description)
                counts["through load_config"] += 1
    print("\nfuzz config: %d seeds, %d mutations: %d accepted, %d refused (%d also through load_config)"
          % (len(seeds), counts["mutations"], counts["accepted"], counts["refused"],
             counts["through load_config"]))
    assert counts["accepted"] and counts["refused"]  # the generator reaches both sides


@pytest.mark.parametrize("data", [
    b"\xff\xfe{}",
    b'{"ociVersion": "1.0.2", "hostname": "\xc3\x28"}',
    b'{"ociVersion": "1.0.2", "root": {"path": "rootfs\\udcff"}}',
    b'{"ociVersion": "1.0.2", "a": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    b'{"ociVersion": "1.0.2", "a": ' + b'{"k":' * 50000 + b"1" + b"}" * 50000 + b"}",
    b"[" * 3000,
    b"",
    b"\x00",
    b'{"ociVersion": NaN}',
    b'{"ociVersion": "1.0.2", "ociVersion": 1}',
], ids=["bom-bytes", "invalid-utf8", "escaped-surrogate", "deep-array", "deep-object", "unclosed",
        "empty", "nul", "nan", "duplicate-key"])
def test_hostile_config_files_are_refused_naming_the_file(tmp_path, data):
    assert check_load(tmp_path, data, repr(data[:40])) == "refused"


def test_the_generator_is_deterministic():
    """A failure names its mutation; the same seed must reproduce it."""
    runs = []
    for _ in range(2):
        rng = random.Random(SEED)
        runs.append([mutate(Seed(name, raw), rng)[0] for name, raw in seed_configs() for _ in range(50)])
    assert runs[0] == runs[1]
