"""Kubernetes manifests for a generated repository: many Triton replicas behind a Service, scaled on queue time,
and the audio gateway in front of them; a KServe InferenceService as the alternative.

Written from Triton's own Helm chart (deploy/k8s-onprem, deploy/gcp in triton-inference-server/server): the
NGC image, the repository from a volume, probes on /v2/health/{live,ready}, metrics on 8002, an HPA on a
per-pod custom metric that prometheus-adapter derives from Triton's nv_inference_queue_duration_us. The python
backend needs a larger /dev/shm than a pod's 64 MB default: a memory emptyDir is mounted there."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from wux import __version__
from wux.errors import ConfigError
from wux.fsutil import atomic_dir
from wux.triton_repo.container import DEFAULT_RELEASE, SHM_SIZE, Release

HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
GATEWAY_PORT = 8080
QUEUE_METRIC = "wux_triton_queue_us_per_request"  # what prometheus-adapter serves the HPA (rules file)
FILES = ("triton.yaml", "hpa.yaml", "prometheus-adapter-rules.yaml", "gateway.yaml", "kserve.yaml")
KUBERNETES_VERSION = "1.30"  # the API the manifests are validated against (apps/v1, autoscaling/v2)


@dataclass(frozen=True)
class K8sRequest:
    name: str = "waveunet"  # the front model, and the prefix of every resource
    image: str = ""  # Triton image: the repository's Dockerfile built and pushed (default: NGC + its packages)
    gateway_image: str = f"wux-gateway:{__version__}"  # built from Dockerfile.gateway
    volume_claim: str = "wux-model-repository"  # a PersistentVolumeClaim holding the repository
    replicas: int = 2
    max_replicas: int = 8
    cpu: str = "2"
    memory: str = "4Gi"
    gpus: int = 0  # nvidia.com/gpu per replica
    queue_target_us: int = 50_000  # the HPA adds replicas above this average queue time per request
    gateway_replicas: int = 2

    def __post_init__(self):
        if not 1 <= self.replicas <= self.max_replicas:
            raise ConfigError(f"replicas must be between 1 and the maximum ({self.max_replicas})")
        if self.gpus < 0 or self.queue_target_us <= 0 or self.gateway_replicas < 1:
            raise ConfigError("gpus must be >= 0, the queue target and gateway replicas positive")

    def triton_image(self, release: Release) -> str:
        return self.image or f"wux-triton:{release.ngc}"


@dataclass
class K8sResult:
    folder: str
    files: list[str]
    release: str  # the NGC release the Triton image is built from
    apply: str  # the command that deploys it

    def to_dict(self) -> dict:
        return asdict(self)


def labels(app: str) -> dict:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "wux"}


def triton_manifests(req: K8sRequest, release: Release) -> list[dict]:
    app = f"{req.name}-triton"
    resources = {"cpu": req.cpu, "memory": req.memory}
    if req.gpus:
        resources["nvidia.com/gpu"] = str(req.gpus)
    container = {
        "name": "tritonserver",
        "image": req.triton_image(release),
        "args": ["tritonserver", "--model-repository=/models", "--strict-readiness=true",
                 "--exit-on-error=true", f"--metrics-port={METRICS_PORT}"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT}, {"name": "grpc", "containerPort": GRPC_PORT},
                  {"name": "metrics", "containerPort": METRICS_PORT}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5,
                           "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10,
                          "failureThreshold": 3},
        "startupProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5,
                         "failureThreshold": 60},  # models load (and warm up) within 5 minutes
        "resources": {"requests": resources, "limits": resources},
        "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True},
                         {"name": "shm", "mountPath": "/dev/shm"}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "labels": labels(app),
                     "annotations": {"wux/triton-release": f"{release.ngc} (Triton {release.triton}, "
                                                           f"TensorRT {release.tensorrt}, CUDA {release.cuda})",
                                     "wux/version": __version__}},
        "spec": {
            "replicas": req.replicas,
            "selector": {"matchLabels": labels(app)},
            "template": {
                "metadata": {"labels": labels(app),
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(METRICS_PORT)}},
                "spec": {"containers": [container],
                         "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": req.volume_claim,
                                                                                  "readOnly": True}},
                                     {"name": "shm", "emptyDir": {"medium": "Memory",
                                                                  "sizeLimit": SHM_SIZE.replace("g", "Gi")}}]},
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": app, "labels": labels(app)},
        "spec": {"selector": labels(app),
                 "ports": [{"name": n, "port": p, "targetPort": n}
                           for n, p in (("http", HTTP_PORT), ("grpc", GRPC_PORT), ("metrics", METRICS_PORT))]},
    }
    return [deployment, service]


def autoscaler(req: K8sRequest) -> dict:
    app = f"{req.name}-triton"
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": app, "labels": labels(app)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "minReplicas": req.replicas, "maxReplicas": req.max_replicas,
            "metrics": [{"type": "Pods", "pods": {
                "metric": {"name": QUEUE_METRIC},
                "target": {"type": "AverageValue", "averageValue": str(req.queue_target_us)}}}],
        },
    }


def adapter_rules(req: K8sRequest) -> dict:
    """prometheus-adapter's rule turning Triton's cumulative counters into queue time per request, per pod."""
    rule = f"""rules:
- seriesQuery: 'nv_inference_queue_duration_us{{namespace!="",pod!=""}}'
  resources:
    overrides:
      namespace: {{resource: namespace}}
      pod: {{resource: pod}}
  name:
    as: "{QUEUE_METRIC}"
  metricsQuery: >-
    sum(rate(nv_inference_queue_duration_us{{<<.LabelMatchers>>}}[1m])) by (<<.GroupBy>>)
    / clamp_min(sum(rate(nv_inference_request_success{{<<.LabelMatchers>>}}[1m])) by (<<.GroupBy>>), 1)
"""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{req.name}-prometheus-adapter-rules", "labels": labels(f"{req.name}-triton")},
            "data": {"config.yaml": rule}}


def gateway_manifests(req: K8sRequest) -> list[dict]:
    app, triton = f"{req.name}-gateway", f"{req.name}-triton"
    container = {
        "name": "gateway",
        "image": req.gateway_image,
        "args": ["wux", "gateway", "--host", "0.0.0.0", "--port", str(GATEWAY_PORT), "--workers", "2",
                 "--url", f"{triton}:{GRPC_PORT}", "--served-model", req.name],
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "labels": labels(app)},
        "spec": {"replicas": req.gateway_replicas, "selector": {"matchLabels": labels(app)},
                 "template": {"metadata": {"labels": labels(app)}, "spec": {"containers": [container]}}},
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "labels": labels(app)},
               "spec": {"selector": labels(app), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    return [deployment, service]


def kserve_service(req: K8sRequest, release: Release) -> dict:
    """KServe's Triton runtime instead of the Deployment: the repository from the same claim (pvc:// URI)."""
    resources = {"cpu": req.cpu, "memory": req.memory}
    if req.gpus:
        resources["nvidia.com/gpu"] = str(req.gpus)
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": req.name, "labels": labels(req.name)},
        "spec": {"predictor": {
            "minReplicas": req.replicas, "maxReplicas": req.max_replicas,
            "model": {"modelFormat": {"name": "triton"}, "runtimeVersion": f"{release.ngc}-py3",
                      "storageUri": f"pvc://{req.volume_claim}",
                      "resources": {"requests": resources, "limits": resources}},
        }},
    }


GATEWAY_DOCKERFILE = f"""# The wux audio gateway (generated by wux {__version__}).
# docker build -f Dockerfile.gateway -t IMAGE .
FROM python:3.11-slim
RUN pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu \\
 && pip install --no-cache-dir 'wux[serve,gateway]=={__version__}'
EXPOSE {GATEWAY_PORT}
CMD ["wux", "gateway", "--host", "0.0.0.0", "--port", "{GATEWAY_PORT}"]
"""


def write_k8s(out: Path, req: K8sRequest, release: Release = DEFAULT_RELEASE, force: bool = False) -> K8sResult:
    from wux.tools import require

    yaml = require("yaml")

    documents = {
        "triton.yaml": triton_manifests(req, release),
        "hpa.yaml": [autoscaler(req)],
        "prometheus-adapter-rules.yaml": [adapter_rules(req)],
        "gateway.yaml": gateway_manifests(req),
        "kserve.yaml": [kserve_service(req, release)],
    }
    with atomic_dir(out, force=force) as tmp:
        for name, docs in documents.items():
            (tmp / name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
        (tmp / "Dockerfile.gateway").write_text(GATEWAY_DOCKERFILE)
    apply = f"kubectl apply -f {out}/triton.yaml -f {out}/hpa.yaml -f {out}/gateway.yaml"
    return K8sResult(str(out), [*documents, "Dockerfile.gateway"], release.ngc, apply)


def deploy_repository(export_folder: Path, out: Path, name: str, gpu: bool, force: bool = False) -> K8sResult:
    """`wux triton --deploy k8s`: the manifests for the repository just generated from `export_folder` (its
    TensorRT plans, if any, fix the NGC release)."""
    from wux.export.manifest import read_manifest
    from wux.triton_repo.container import pick_release

    manifest = read_manifest(export_folder)
    release, _ = pick_release({a.details.get("tensorrt") for a in manifest.artifacts if a.format == "trt"})
    return write_k8s(out, K8sRequest(name=name, gpus=1 if gpu else 0), release, force)
