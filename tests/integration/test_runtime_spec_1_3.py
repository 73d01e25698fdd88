"""runtime-spec 1.3 on this host: the features document is valid and true
here, the state says 1.3.0, and linux.intelRdt -- which needs a mounted
resctrl filesystem, absent on this host and in the VM lab -- is refused
naming the field and the reason, with nothing left behind; `update`'s
Intel RDT flags likewise."""

import json

import pytest

from unit.json_schema import load_schema, validate

from .helpers import IS_RUNC, assert_error


def resctrl_mounted():
    with open("/proc/self/mountinfo") as info:
        return any(line.partition(" - ")[2].startswith("resctrl ") for line in info)


pytestmark = pytest.mark.skipif(resctrl_mounted(), reason="this host has resctrl mounted: the refusals "
                                                          "below are for hosts without it")


@pytest.mark.skipif(IS_RUNC, reason="runc's features predate 1.3 and claim intelRdt without resctrl")
def test_features_is_valid_and_true_for_this_host(rt):
    doc = json.loads(rt("features").stdout)
    validate(doc, load_schema("features-schema.json"))
    assert doc["ociVersionMax"] == "1.3.0"
    assert doc["linux"]["intelRdt"] == {"enabled": False, "schemata": False, "monitoring": False}


def test_the_state_of_a_container_says_runtime_spec_1_3_0(rt, make_bundle, cid):
    rt("create", "--bundle", make_bundle(["sleep", "60"]), cid)
    state = rt.state(cid)
    if not IS_RUNC:
        assert state["ociVersion"] == "1.3.0"
    rt("delete", "--force", cid)
    rt.assert_clean()


@pytest.mark.parametrize("rdt", [
    {"closID": "gold", "l3CacheSchema": "L3:0=7f0"},
    {"schemata": ["L3:0=ff"], "enableMonitoring": True},
    {},
])
def test_linux_intel_rdt_is_refused_naming_the_field_and_the_reason(rt, make_bundle, cid, rdt):
    bundle = make_bundle(["true"], linux={"intelRdt": rdt})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "linux.intelRdt", "resctrl filesystem is not mounted", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def test_update_s_intel_rdt_flags_are_refused_with_the_reason(rt, make_bundle, cid):
    rt("create", "--bundle", make_bundle(["sleep", "60"]), cid)
    result = rt("update", "--l3-cache-schema", "L3:0=ff", cid, check=False, log=True)
    assert_error(result, "Intel RDT", "resctrl filesystem is not mounted", log=rt.log)
    rt("delete", "--force", cid)
    rt.assert_clean()
