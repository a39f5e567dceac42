"""deploy/k8s and deploy/Dockerfile: valid manifests (offline schemas, strict), every setting documented,
probes and termination that match the code. No cluster or container daemon runs here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import subjects
from shared.runtime import STOP_GRACE_S
from shared.settings import Settings, load_settings, settings_table

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml"))
KUBERNETES_VALIDATE = Path(sys.executable).with_name("kubernetes-validate")


def _docs() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


DOCS = _docs()


def _kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in DOCS if doc["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes_strictly(path: Path) -> None:
    checked = subprocess.run([str(KUBERNETES_VALIDATE), "--strict", "--quiet", str(path)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_typo_fails_strict_validation(tmp_path: Path) -> None:
    """The check above can fail: an unknown field (`imagee`) is refused in strict mode."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((K8S / "hyperoru.yaml").read_text().replace("imagePullPolicy:", "imagePullPolicyy:", 1))
    checked = subprocess.run([str(KUBERNETES_VALIDATE), "--strict", "--quiet", str(bad)], capture_output=True, text=True, timeout=120)
    assert checked.returncode != 0


def test_every_setting_is_in_the_config_map_or_the_secret_and_nothing_else_is() -> None:
    config = _kind("ConfigMap")["hyperoru-config"]["data"]
    secret = _kind("Secret")["hyperoru-secrets"]["stringData"]
    settings = [name for name, _, _ in settings_table()]
    missing = [name for name in settings if name not in config and name not in secret]
    assert not missing, f"add these settings to deploy/k8s/config.yaml: {missing}"
    assert set(config) | set(secret) <= set(settings), "a key that is no setting (a typo?)"
    assert not set(config) & set(secret)
    assert list(config) == [name for name in settings if name in config], "keep the settings' order"
    loaded = load_settings({**config, **secret})  # every value is one the settings accept
    assert isinstance(loaded, Settings) and loaded.log_format == "json"


def test_secrets_hold_the_credentials() -> None:
    secret = _kind("Secret")["hyperoru-secrets"]["stringData"]
    assert {"MONGODB_URL", "AI_API_KEY"} <= set(secret)


def test_every_service_has_a_deployment_with_config_probes_and_limits() -> None:
    deployments = _kind("Deployment")
    assert set(deployments) == {f"hyperoru-{name}" for name in ("gateway", *subjects.SERVICES)}
    for name, deployment in deployments.items():
        service = name.removeprefix("hyperoru-")
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert (ROOT / "services" / service / "__main__.py").exists()
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == {"hyperoru-config", "hyperoru-secrets"}
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert deployment["spec"]["replicas"] >= 2
        assert not container["image"].endswith(":latest")
        if service == "gateway":
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?scope=gateway"
            assert {"name": "GATEWAY_HOST", "value": "0.0.0.0"} in container["env"]
            metrics = int(_kind("ConfigMap")["hyperoru-config"]["data"]["METRICS_PORT"])
            assert {"name": "metrics", "containerPort": metrics} in container["ports"]
            assert pod is not None and deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(metrics)
        else:
            assert container["readinessProbe"]["exec"]["command"] == ["hyperoru", "probe", service]


def test_termination_grace_covers_the_drain() -> None:
    """The pod is killed only after the process had the time its own stop takes."""
    source = (ROOT / "services" / "gateway" / "__main__.py").read_text()
    shutdown_s = float(re.search(r"shutdown_timeout=(\d+(?:\.\d+)?)", source).group(1))  # type: ignore[union-attr]
    for name, deployment in _kind("Deployment").items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        container = _container(deployment)
        if name == "hyperoru-gateway":
            pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
            assert grace > pre_stop + shutdown_s
        else:
            assert grace > 3 * STOP_GRACE_S  # Service.run_until_signalled bounds its stop to this


def test_the_backtester_has_a_disruption_budget_and_an_autoscaler() -> None:
    assert _kind("PodDisruptionBudget")["hyperoru-backtester"]["spec"]["selector"]["matchLabels"] == {"app": "hyperoru-backtester"}
    hpa = _kind("HorizontalPodAutoscaler")["hyperoru-backtester"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hyperoru-backtester"}
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    backtester = _container(_kind("Deployment")["hyperoru-backtester"])
    assert backtester["resources"]["requests"]["cpu"], "a CPU target needs a CPU request"


def test_nats_runs_jetstream_where_the_config_map_points() -> None:
    config = _kind("ConfigMap")["hyperoru-config"]["data"]
    nats = _kind("StatefulSet")["nats"]
    assert nats["spec"]["serviceName"] in _kind("Service")
    assert _kind("Service")[nats["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"
    conf = _kind("ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert "jetstream" in conf
    host, port = config["NATS_URL"].removeprefix("nats://").split(":")
    assert host in _kind("Service") and int(port) in [p["port"] for p in _kind("Service")[host]["spec"]["ports"]]


def test_the_dockerfile_runs_slim_and_unprivileged_as_the_manifests_expect() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert froms and all(image.endswith("-slim") for image in froms)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] == "10001"
    for deployment in _kind("Deployment").values():
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore[union-attr]
    assert {_container(d)["image"] for d in _kind("Deployment").values()} == {f"hyperoru/programs:{version}"}
