"""The Prometheus alert rules: valid PromQL (promtool), and built only from metrics, labels and
routes the service really exports, so renaming a metric cannot silently disarm an alert.
"""

from __future__ import annotations

import re
import subprocess

import yaml
from prometheus_client import REGISTRY

from service import metrics  # noqa: F401 (registers the service's metrics)
from service.routes import candidates, events, items, ops

from deploy_helpers import ROOT, tool

RULES = ROOT / "k8s/base/monitoring/alerts.yml"
EXPECTED = {
    "CandidatesHighErrorRate",
    "CandidatesHighLatencyP99",
    "CandidatesDegradedAnswers",
    "CandidatesRedisDown",
    "CandidatesModelReloadFailed",
    "CandidatesModelTooOld",
}


def rules() -> list[dict]:
    return [r for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]]


def exported_series() -> set[str]:
    names = set()
    for collector in REGISTRY.collect():
        names |= {sample.name for sample in collector.samples} | {collector.name}
        if collector.type == "histogram":
            names |= {f"{collector.name}_{s}" for s in ("bucket", "count", "sum")}
        if collector.type == "counter":
            names.add(f"{collector.name}_total")
    return names


def test_the_six_alerts_exist_each_with_a_runbook():
    assert {r["alert"] for r in rules()} == EXPECTED
    for rule in rules():
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert anchor == rule["alert"].lower()
        assert f"### {rule['alert']}" in (ROOT / "docs/operations.md").read_text()


def test_alerts_use_only_exported_metrics_and_real_routes():
    exported = exported_series()
    routes = {r.path for m in (candidates, events, items, ops) for r in m.router.routes}  # type: ignore[attr-defined]
    for rule in rules():
        expr = rule["expr"]
        for name in re.findall(r"\b(ic_[a-z_]+)", expr):
            assert name in exported, f"{rule['alert']}: {name} is not exported"
        for route in re.findall(r'route="([^"]+)"', expr):
            assert route in routes, f"{rule['alert']}: no route {route}"
    assert 'result="failed"' in next(r["expr"] for r in rules() if "Reload" in r["alert"])


def test_rules_pass_promtool():
    promtool = tool("promtool", "run `make promtool` (Debian's prometheus package)", True)
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED)} rules found" in result.stdout
