"""`wux triton --deploy k8s`: manifests that the Kubernetes API schemas accept, with what a Triton fleet needs."""

import json

import pytest
import yaml

from tests.test_cli import invoke
from wux.deploy.k8s import FILES, KUBERNETES_VERSION, QUEUE_METRIC, K8sRequest
from wux.errors import ConfigError
from wux.triton_repo.container import DEFAULT_RELEASE

kubernetes_validate = pytest.importorskip("kubernetes_validate")


@pytest.fixture(scope="module")
def deployed(exported, tmp_path_factory):
    root = tmp_path_factory.mktemp("k8s")
    result = invoke("triton", exported[0], "--repo", root / "repo", "--deploy", "k8s", "--kind", "gpu")
    assert result.exit_code == 0, result.output
    assert f"wrote {root / 'repo-k8s'}" in result.output and "kubectl apply" in result.output
    docs = {name: list(yaml.safe_load_all((root / "repo-k8s" / name).read_text())) for name in FILES}
    return root, docs


def test_every_core_manifest_validates_against_the_kubernetes_schemas(deployed):
    _, docs = deployed
    kinds = []
    for items in docs.values():
        for doc in items:
            kinds.append(doc["kind"])
            if doc["apiVersion"].startswith("serving.kserve.io"):
                continue  # a custom resource: no schema in the Kubernetes API (checked below)
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "InferenceService",
                             "Service", "Service"]


def test_a_broken_manifest_would_be_caught(deployed):
    _, docs = deployed
    deployment = docs["triton.yaml"][0]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_triton_replicas_probe_health_mount_the_repository_and_scale_on_queue_time(deployed):
    _, docs = deployed
    deployment, service = docs["triton.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert "--model-repository=/models" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"  # --kind gpu
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == K8sRequest().volume_claim
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"  # the python backend's shared memory
    assert DEFAULT_RELEASE.ngc in deployment["metadata"]["annotations"]["wux/triton-release"]
    assert {p["port"] for p in service["spec"]["ports"]} == {8000, 8001, 8002}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    (hpa,) = docs["hpa.yaml"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == QUEUE_METRIC
    rules = yaml.safe_load(docs["prometheus-adapter-rules.yaml"][0]["data"]["config.yaml"])
    assert rules["rules"][0]["name"]["as"] == QUEUE_METRIC
    assert "nv_inference_queue_duration_us" in rules["rules"][0]["metricsQuery"]


def test_the_gateway_talks_to_the_triton_service_and_kserve_reads_the_same_claim(deployed):
    root, docs = deployed
    triton_service = docs["triton.yaml"][1]["metadata"]["name"]
    gateway, _ = docs["gateway.yaml"]
    args = gateway["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--url") + 1] == f"{triton_service}:8001" and args[args.index("--host") + 1] == "0.0.0.0"
    (isvc,) = docs["kserve.yaml"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "triton" and model["storageUri"] == f"pvc://{K8sRequest().volume_claim}"
    cmd = (root / "repo-k8s" / "Dockerfile.gateway").read_text().splitlines()[-1]
    assert cmd.startswith("CMD ") and json.loads(cmd[4:])[:2] == ["wux", "gateway"]  # exec form, valid JSON


def test_impossible_requests_are_refused():
    with pytest.raises(ConfigError):
        K8sRequest(replicas=9, max_replicas=8)
    with pytest.raises(ConfigError):
        K8sRequest(gpus=-1)
