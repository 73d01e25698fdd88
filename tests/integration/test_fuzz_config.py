"""The config fuzzer end to end: accepted mutations really run, or fail clean.

tests/unit/test_fuzz_config.py shows that every mutation of the engine
configs is parsed or refused naming a field. Parsing is not the end: an
accepted config still meets the kernel. Here the engine configs are made
runnable on this host (this test's rootfs, `true` as the process, no engine
hooks, binds or LSM profiles that only exist on the engine's host), mutated
by the same seeded generator, and a seeded sample of the mutations the parser
accepts is created, started and force-deleted: each step either succeeds or
fails with one line naming a field or path and an error line in the --log
file, and nothing is left behind. FUZZ_MUTATIONS (per engine config, default
60) and FUZZ_SAMPLE (default 20) make a longer hunt."""

import json
import os
import random
import sys

import pytest

from unit.config_fuzzer import SEED, Seed, engine_configs, mutate

from .helpers import MINIRUN, assert_error

SAMPLE = int(os.environ.get("FUZZ_SAMPLE", "20"))
MUTATIONS_PER_CONFIG = int(os.environ.get("FUZZ_MUTATIONS", "60"))


def minirun_parser():
    """minirun's own parser picks the accepted mutations (for every runtime
    under test: runc then runs the same sample)."""
    sys.path.insert(0, str(MINIRUN.parent))
    try:
        import minirun
    finally:
        sys.path.pop(0)
    return minirun


def runnable(raw, rootfs):
    """An engine's config, made to run here: what it names on the engine's
    host (hooks, bind sources, joined namespaces, LSM profiles) is left out."""
    raw = json.loads(json.dumps(raw))
    raw["root"] = {"path": str(rootfs), "readonly": bool(raw.get("root", {}).get("readonly"))}
    process = raw.setdefault("process", {})
    process.update(args=["true"], terminal=False, cwd="/")
    for key in ("consoleSize", "apparmorProfile", "selinuxLabel"):
        process.pop(key, None)
    raw.pop("hooks", None)
    raw["mounts"] = [m for m in raw.get("mounts", [])
                     if m.get("type") != "bind" and "bind" not in m.get("options", []) and
                     "rbind" not in m.get("options", [])]
    linux = raw.setdefault("linux", {})
    linux["namespaces"] = [ns for ns in linux.get("namespaces", []) if not ns.get("path")]
    for key in ("mountLabel", "cgroupsPath", "resources"):
        linux.pop(key, None)
    return raw


def accepted_sample(minirun, rootfs, bundle_dir):
    """(description, config) for SAMPLE seeded mutations the parser accepts,
    and the counts."""
    saved = minirun.LOG.threshold
    minirun.LOG.threshold = len(minirun.Log.LEVELS)  # warnings of accepted configs are not ours to print
    rng = random.Random(SEED)
    accepted, counts = [], {"mutations": 0, "accepted": 0, "refused": 0, "deep": 0}
    try:
        for name, raw in engine_configs():
            seed = Seed(name, runnable(raw, rootfs))
            for _ in range(MUTATIONS_PER_CONFIG):
                description, mutated = mutate(seed, rng)
                counts["mutations"] += 1
                if "deep nesting" in description:  # json.dump recurses; the unit test covers it
                    counts["deep"] += 1
                    continue
                try:
                    cfg = minirun.parse_config(mutated, str(bundle_dir))
                except minirun.ConfigError:
                    counts["refused"] += 1
                    continue
                counts["accepted"] += 1
                # A mutated root.path of "/" would run on the host's root.
                if cfg.root_path == str(rootfs):
                    accepted.append(("%s: %s" % (name, description), mutated))
    finally:
        minirun.LOG.threshold = saved
    return random.Random(SEED).sample(accepted, min(SAMPLE, len(accepted))), counts


def test_a_sample_of_accepted_mutations_runs_or_fails_clean(rt, rootfs, tmp_path, cid):
    if not engine_configs():
        pytest.skip("no engine fixtures in tests/fixtures/engine-configs or ../shared")
    bundle = tmp_path / "fuzz-bundle"
    bundle.mkdir()
    sample, counts = accepted_sample(minirun_parser(), rootfs, bundle)
    assert sample
    outcomes = {"ran": 0, "failed clean": 0}
    for i, (description, config) in enumerate(sample):
        with open(str(bundle / "config.json"), "w") as handle:
            json.dump(config, handle)
        if rt.log.exists():
            os.unlink(str(rt.log))
        name = "%s-%d" % (cid, i)
        # create and start, not run: run would return the process's own exit
        # status (a profile that denies arch_prctl fails busybox itself).
        result = rt("create", "--bundle", bundle, name, check=False, log=True)
        if result.returncode == 0:
            result = rt("start", name, check=False, log=True)
            deleted = rt("delete", "--force", name, check=False)
            assert (deleted.returncode, deleted.stderr) == (0, ""), (description, deleted.stderr)
        if result.returncode == 0:
            outcomes["ran"] += 1
        else:
            try:
                assert_error(result, log=rt.log)
            except AssertionError as exc:
                raise AssertionError("%s: %s" % (description, exc)) from None
            outcomes["failed clean"] += 1
            print("%s -> %s" % (description, result.stderr.strip()))
        rt.assert_clean()
    print("\nfuzz end to end: %d mutations (%d deep nestings left to the unit test), %d accepted by the "
          "parser, %d refused; sample of %d: %d ran, %d failed clean"
          % (counts["mutations"], counts["deep"], counts["accepted"], counts["refused"], len(sample),
             outcomes["ran"], outcomes["failed clean"]))
