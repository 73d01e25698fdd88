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
import json
import os
import random

import pytest

import minirun

from .config_fuzzer import SEED, Seed, engine_configs, mutate
from .helpers import BASE_CONFIG

MUTATIONS_PER_CONFIG = 400
BUNDLE = "/bundles/fuzz"


def seed_configs():
    """The engine fixtures, plus the minimal config the unit helpers use (so
    the test runs even without any fixture)."""
    return [("minimal", copy.deepcopy(BASE_CONFIG))] + engine_configs()


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
            if name == "source":  # the raw config, kept for exec, which parses it again
                continue
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
    minirun.plan_namespaces(cfg, FUZZ_HOST)
    minirun.plan_sysctl(cfg, FUZZ_HOST)
    seccomp = cfg.seccomp if compile_seccomp and os.uname().machine in minirun.NATIVE_SECCOMP_ARCH else None
    minirun.plan_process(cfg.process, FUZZ_HOST, seccomp, cfg.personality)


# Every fact planning may ask for, given: nothing is probed on this machine.
FUZZ_HOST = minirun.Host(facts=dict(
    {"euid": 0, "in_user_namespace": False, "last_capability": 40, "apparmor": True, "selinux": True,
     "apparmor_profiles": None, "filesystems": frozenset(["proc", "tmpfs", "sysfs", "devpts", "mqueue", "cgroup"]),
     "has_openat2": True, "has_kcore": True, "cgroup_mount_layout": ("v2", None, None)},
    **{"seccomp_action_%x" % action: True for action in minirun.SECCOMP_ACTIONS.values()},
    **{"seccomp_flag_%x" % flag: True for flag in (1, 2, 4, 32 | 8)}))


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
