"""`features` (section 19): the runtime-spec 1.3 features document, valid
against the spec's schema (vendored in tests/fixtures/runtime-spec-schema,
checked by the small validator below: the subset of JSON Schema draft 4 those
files use) and true for the build and the host it is given: what the host
lacks (resctrl, a seccomp flag, a memory policy mode) is not claimed. The
version strings of 1.3 are here too."""

import json
import os

import pytest

import minirun

from .helpers import REPO, run_cli
from .json_schema import SchemaError, load_schema, validate

def features_host(**facts):
    base = {"last_capability": 40, "apparmor": False, "selinux": False, "has_idmapped_mounts": True,
            "resctrl": None, "kernel_release": (6, 18)}
    base.update({"seccomp_flag_%x" % flag: True for flag in (1, 2, 4, 32 | 8)})
    base.update(facts)
    return minirun.Host(facts=base)


# --- the validator itself ----------------------------------------------------------------


@pytest.mark.parametrize("document", [
    {"ociVersionMax": "1.3.0"},                                     # ociVersionMin is required
    {"ociVersionMin": "1.0.0", "ociVersionMax": 1},
    {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "linux": {"namespaces": ["pidd"]}},
    {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "linux": {"capabilities": ["cap_chown"]}},
    {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "linux": {"intelRdt": {"enabled": "yes"}}},
    {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "linux": {"memoryPolicy": {"modes": ["MPOL_X"]}}},
    {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "linux": {"seccomp": {"knownFlags": ["TSYNC"]}}},
    {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "annotations": {"k": 1}},
])
def test_the_validator_catches_what_the_schema_forbids(document):
    with pytest.raises(SchemaError):
        validate(document, load_schema("features-schema.json"))


# --- the document ------------------------------------------------------------------------


@pytest.mark.parametrize("facts", [{}, {"resctrl": "/sys/fs/resctrl", "apparmor": True, "selinux": True},
                                   {"kernel_release": (5, 10), "seccomp_flag_28": False}])
def test_the_features_document_is_valid_against_the_runtime_spec_1_3_schema(facts):
    validate(minirun.features(features_host(**facts)), load_schema("features-schema.json"))


def test_the_features_command_prints_a_valid_document_for_this_host(tmp_path):
    result = run_cli("--root", str(tmp_path), "features")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    validate(doc, load_schema("features-schema.json"))
    assert doc["ociVersionMax"] == "1.3.0"


def test_intel_rdt_is_claimed_only_where_resctrl_is_mounted(tmp_path):
    assert minirun.features(features_host())["linux"]["intelRdt"] == {
        "enabled": False, "schemata": False, "monitoring": False}
    (tmp_path / "info" / "L3_MON").mkdir(parents=True)
    rdt = minirun.features(features_host(resctrl=str(tmp_path)))["linux"]["intelRdt"]
    assert rdt == {"enabled": True, "schemata": True, "monitoring": True}
    (tmp_path / "info" / "L3_MON").rmdir()
    assert minirun.features(features_host(resctrl=str(tmp_path)))["linux"]["intelRdt"]["monitoring"] is False


def test_seccomp_lists_every_flag_of_the_spec_and_supports_what_plan_seccomp_applies():
    host = features_host(**{"seccomp_flag_28": False, "seccomp_flag_4": False})
    seccomp = minirun.features(host)["linux"]["seccomp"]
    assert seccomp["knownFlags"] == sorted(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    assert seccomp["supportedFlags"] == ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]
    # One predicate for both: what features supports is what create applies.
    for name in seccomp["knownFlags"]:
        assert minirun.seccomp_flag_supported(name, host) == (name in seccomp["supportedFlags"])


def test_memory_policy_names_weighted_interleave_only_on_a_kernel_that_has_it():
    new = minirun.features(features_host(kernel_release=(6, 9)))["linux"]["memoryPolicy"]
    old = minirun.features(features_host(kernel_release=(6, 8)))["linux"]["memoryPolicy"]
    assert "MPOL_WEIGHTED_INTERLEAVE" in new["modes"] and "MPOL_WEIGHTED_INTERLEAVE" not in old["modes"]
    assert set(new["modes"]) - set(old["modes"]) == {"MPOL_WEIGHTED_INTERLEAVE"}
    assert new["flags"] == ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]


def test_no_annotation_is_claimed_to_change_what_minirun_does():
    assert minirun.features(features_host())["potentiallyUnsafeConfigAnnotations"] == []


def test_the_kernel_release_fact_reads_major_and_minor():
    major, minor = minirun.Host().kernel_release
    assert "%d.%d" % (major, minor) == ".".join(os.uname().release.split(".")[:2])


# --- versions ----------------------------------------------------------------------------


def test_minirun_implements_runtime_spec_1_3_0():
    assert minirun.SPEC_VERSION == "1.3.0"
    with open(os.path.join(REPO, "minirun.py")) as source:
        assert "OCI bundle (runtime-spec 1.0.2 to 1.3)" in source.read()
