"""k8s/: both overlays build with the real kustomize and every object passes the Kubernetes
schemas (kubernetes-validate, strict: unknown fields are errors), and the objects say what the
operations guide promises (probes, security, rollout, shared artifact volume, Redis per overlay).
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from service.settings import Settings

from deploy_helpers import FOLDER_OVERLAYS, OVERLAYS, find, kustomize

# The oldest Kubernetes we promise (lifecycle.preStop.sleep is beta and on from 1.30) and the
# newest the installed schemas know.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
PROCESS_VARS = {"HOST", "PORT", "WORKERS"}  # read by python -m service itself


def service_pod(objects) -> dict:
    return find(objects, "Deployment", "interaction-candidates")["spec"]["template"]["spec"]


def trainer_pod(objects) -> dict:
    cronjob = find(objects, "CronJob", "interaction-candidates-trainer")
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def volume_claims(pod: dict) -> dict[str, dict]:
    return {
        v["name"]: v["persistentVolumeClaim"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_strictly(overlay: str, version: str):
    objects = kustomize(f"k8s/overlays/{overlay}")
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_rejects_an_unknown_field():
    deployment = copy.deepcopy(find(kustomize("k8s/overlays/prod"), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_deployment_is_safe_to_roll_and_probe(overlay: str):
    objects = kustomize(f"k8s/overlays/{overlay}")
    deployment = find(objects, "Deployment", "interaction-candidates")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = service_pod(objects)
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "service"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # room to load a model
    resources = container["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/tmp" in mounts
    assert overlay not in FOLDER_OVERLAYS or mounts["/artifacts"]["readOnly"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_hpa_pdb_and_service_all_point_at_the_deployment(overlay: str):
    objects = kustomize(f"k8s/overlays/{overlay}")
    deployment = find(objects, "Deployment", "interaction-candidates")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = find(objects, "Service", "interaction-candidates")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = find(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert 2 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"]


@pytest.mark.parametrize("overlay", FOLDER_OVERLAYS)
def test_trainer_publishes_into_the_volume_the_service_reads(overlay: str):
    objects = kustomize(f"k8s/overlays/{overlay}")
    pvc = find(objects, "PersistentVolumeClaim", "interaction-candidates-artifacts")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    served = volume_claims(service_pod(objects))["artifacts"]
    trained = volume_claims(trainer_pod(objects))["artifacts"]
    assert served == {"claimName": pvc["metadata"]["name"], "readOnly": True}
    assert trained["claimName"] == pvc["metadata"]["name"] and not trained.get("readOnly")
    (trainer,) = trainer_pod(objects)["containers"]
    assert trainer["command"] == ["ic-train"]
    assert trainer["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in trainer["volumeMounts"]}
    assert "readOnly" not in mounts["/artifacts"] and "/tmp" in mounts


def settings_map(objects) -> dict[str, str]:
    configmaps = [o for o in objects if o["kind"] == "ConfigMap"]
    (settings,) = [
        c for c in configmaps if c["metadata"]["name"].startswith("interaction-candidates-settings")
    ]
    return settings["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_configmap_names_only_real_settings(overlay: str):
    objects = kustomize(f"k8s/overlays/{overlay}")
    known = {name.upper() for name in Settings.model_fields} | PROCESS_VARS
    data = settings_map(objects)
    assert data.keys() <= known
    Settings.model_validate({k.lower(): v for k, v in data.items() if k not in PROCESS_VARS})
    (container,) = service_pod(objects)["containers"]
    assert container["envFrom"][0]["configMapRef"]["name"] in {
        o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"
    }


def test_dev_runs_its_own_redis_and_points_the_service_at_it():
    objects = kustomize("k8s/overlays/dev")
    statefulset = find(objects, "StatefulSet", "redis")
    redis_service = find(objects, "Service", statefulset["spec"]["serviceName"])
    assert redis_service["spec"]["selector"].items() <= (
        statefulset["spec"]["template"]["metadata"]["labels"].items()
    )
    assert (
        settings_map(objects)["REDIS_URL"] == f"redis://{redis_service['metadata']['name']}:6379/0"
    )


def test_prod_reads_redis_url_from_a_secret_and_runs_no_redis():
    objects = kustomize("k8s/overlays/prod")
    assert not [o for o in objects if o["kind"] == "StatefulSet"]
    assert "REDIS_URL" not in settings_map(objects)
    (container,) = service_pod(objects)["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "interaction-candidates-redis",
        "key": "REDIS_URL",
    }


def test_alert_rules_ship_as_a_configmap():
    objects = kustomize("k8s/overlays/prod")
    rules = find(objects, "ConfigMap", "interaction-candidates-alerts")
    assert "alerts.yml" in rules["data"]


def test_s3_publishes_to_a_bucket_with_credentials_from_a_secret_and_no_shared_volume():
    objects = kustomize("k8s/overlays/s3")
    assert not [o for o in objects if o["metadata"]["name"] == "interaction-candidates-artifacts"]
    settings = settings_map(objects)
    url = settings["ARTIFACTS_DIR"]
    assert url.startswith("s3://") and Settings(artifacts_dir=url).artifacts_dir
    service, trainer = service_pod(objects), trainer_pod(objects)
    for pod in (service, trainer):
        assert "artifacts" not in volume_claims(pod)
        (container,) = pod["containers"]
        secrets = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
        assert secrets == ["interaction-candidates-s3"]
        assert "/artifacts" not in {m["mountPath"] for m in container["volumeMounts"]}
    (trainer_container,) = trainer["containers"]
    assert {e["name"]: e.get("value") for e in trainer_container["env"]}["ARTIFACTS_DIR"] == url
    (container,) = service["containers"]
    cache = settings["ARTIFACTS_CACHE_DIR"]
    mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in service["volumes"]}
    assert "emptyDir" in volumes[mounted[cache]]
