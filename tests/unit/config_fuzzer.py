"""A seeded, deterministic mutator of config.json documents.

Shared by the unit fuzz test (tests/unit/test_fuzz_config.py), which parses
thousands of mutations, and its privileged variant
(tests/integration/test_fuzz_config.py), which runs a sample of the accepted
ones end to end. Pure Python: it imports nothing of minirun."""

import copy
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REPO_FIXTURES = os.path.join(REPO, "tests", "fixtures", "engine-configs")
SHARED_FIXTURES = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "engine-configs")

SEED = 20261129

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


def engine_configs():
    """(name, raw config) for every engine fixture: the repository's copy
    (tests/fixtures) first, else the shared one beside the repository."""
    directory = REPO_FIXTURES if os.path.isdir(REPO_FIXTURES) else SHARED_FIXTURES
    configs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.config.json"))):
        with open(path) as handle:
            configs.append((os.path.basename(path), json.load(handle)))
    return configs


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
