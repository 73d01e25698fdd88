"""Print a table of the e2e scenarios (runtime by engine) from a junit XML of the suite:

    .venv/bin/pytest tests/e2e --junitxml=e2e.xml; python3 tests/e2e/table.py e2e.xml

(Docker's systemd driver: vm/results/sid-v2/junit.xml of a VM lab run.)
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))

ENGINES = {"test_docker": "Docker", "test_podman": "podman", "test_podman_rootless": "rootless podman",
           "test_containerd": "containerd (ctr)", "test_cri": "CRI (Kubernetes)",
           # needs systemd as init: its results come from the VM lab's junit.xml
           "test_docker_systemd": "Docker, systemd cgroup driver"}


def outcome(case):
    skipped = case.find("skipped")
    if case.find("failure") is not None or case.find("error") is not None:
        return "**fail**"
    if skipped is not None:
        message = skipped.get("message", "")
        if skipped.get("type") == "pytest.xfail":
            issue = re.search(r"issue \d+", message)
            if issue:
                return "xfail (%s)" % issue.group(0)
            return "xfail (%s)" % message.split(":")[0]     # "minirun bug: ..."
        return "skip: " + message
    return "pass"


def definition_order(module):
    """Scenario names in the order the test file defines them."""
    with open(os.path.join(HERE, module + ".py")) as f:
        return re.findall(r"^def test_(\w+)\(", f.read(), re.M)


def main(path):
    rows = {}
    order = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        match = re.match(r"test_(.*)\[(minirun|runc)\]$", case.get("name", ""))
        if module not in ENGINES or not match:
            continue
        scenario = "%s: %s" % (ENGINES[module], match.group(1).replace("_", " "))
        order[scenario] = (list(ENGINES).index(module),
                           definition_order(module).index(match.group(1)))
        rows.setdefault(scenario, {})[match.group(2)] = outcome(case)
    print("| scenario | minirun | runc |")
    print("|---|---|---|")
    for scenario in sorted(rows, key=order.get):
        r = rows[scenario]
        print("| %s | %s | %s |" % (scenario, r.get("minirun", "-"), r.get("runc", "-")))


if __name__ == "__main__":
    main(sys.argv[1])
