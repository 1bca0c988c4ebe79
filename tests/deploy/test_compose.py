"""docker-compose.yml: valid for Compose v2 (its own `config`, which checks the Compose schema and
needs no engine), and wired as promised: Redis healthy and the one-shot trainer done before the
service starts, one artifact volume written by the trainer and read by the service, Prometheus
only in the monitoring profile, scraping /metrics with the same alert rules as Kubernetes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy_helpers import ROOT, compose_binary, tool


def compose_config(*args: str, file: Path = ROOT / "docker-compose.yml") -> dict[str, Any]:
    result = subprocess.run(
        [compose_binary(), "-f", str(file), *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return compose_config("--profile", "monitoring")["services"]


def test_compose_rejects_an_unknown_key(tmp_path: Path):
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  a:\n    image: x\n    helthcheck: {}\n")
    with pytest.raises(AssertionError, match="helthcheck"):
        compose_config(file=bad)


def test_without_the_profile_prometheus_does_not_start():
    assert set(compose_config()["services"]) == {"redis", "trainer", "service"}


def test_service_waits_for_healthy_redis_and_a_finished_trainer(services):
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["service"]["depends_on"] == {
        "redis": {"condition": "service_healthy", "required": True},
        "trainer": {"condition": "service_completed_successfully", "required": True},
    }
    assert "/readyz" in " ".join(services["service"]["healthcheck"]["test"])
    assert services["service"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_two_targets_of_one_dockerfile_sharing_the_artifact_volume(services):
    trainer, service = services["trainer"], services["service"]
    assert trainer["build"]["target"] == "full" and service["build"]["target"] == "service"
    assert trainer["build"]["context"] == service["build"]["context"]
    assert trainer["image"] != service["image"]
    assert trainer["entrypoint"] == ["ic-train"] and trainer["restart"] == "no"
    assert service["command"] == ["service"]  # the image's ENTRYPOINT is python -m

    def mount(svc: dict, target: str) -> dict:
        return next(v for v in svc["volumes"] if v["target"] == target)

    assert mount(trainer, "/artifacts")["source"] == mount(service, "/artifacts")["source"]
    assert not mount(trainer, "/artifacts").get("read_only")
    assert mount(service, "/artifacts")["read_only"] is True
    assert mount(trainer, "/data")["read_only"] is True
    assert trainer["environment"]["EVENTS_FILE"].startswith("/data/")
    for svc in (trainer, service):
        assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]


def test_prometheus_profile_scrapes_metrics_with_the_kubernetes_alert_rules(services):
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    mounts = {v["target"]: Path(v["source"]) for v in prometheus["volumes"]}
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    assert mounts["/etc/prometheus/rules/alerts.yml"] == ROOT / "k8s/base/monitoring/alerts.yml"
    config = yaml.safe_load(config_file.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["service:8000"]


def test_prometheus_config_passes_promtool(tmp_path: Path):
    promtool = tool("promtool", "run `make promtool` (Debian's prometheus package)", True)
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["rule_files"] = [str(ROOT / "k8s/base/monitoring/alerts.yml")]  # as mounted
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(local)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
