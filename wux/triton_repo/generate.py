"""`wux triton`: a Triton model repository from an export folder's manifest, written atomically."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from wux.constants import INPUT_NAME, OUTPUT_NAME
from wux.errors import WuxError
from wux.export.formats import get_format
from wux.export.manifest import Artifact, Manifest, read_manifest
from wux.fsutil import atomic_dir
from wux.triton_repo.config import KINDS, PLATFORMS, ModelSpec, ServingOptions, ort_trt_block, render, validate

PYTHON = "python"
WARMUP_FILE = "speech.raw"


@dataclass(frozen=True)
class RepoRequest:
    name: str = "waveunet"
    formats: tuple[str, ...] | None = None  # None: every format in the manifest, plus python
    core: str = PYTHON  # the core model the front model calls
    options: ServingOptions = field(default_factory=ServingOptions)


@dataclass(frozen=True)
class RepoModel:
    name: str
    kind: str  # platform or backend
    role: str  # "core" or "front"
    source: str | None  # artifact file it serves


@dataclass
class RepoResult:
    repo: str
    models: list[RepoModel]
    notes: list[str]
    clients: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def core_name(base: str, fmt: str) -> str:
    return f"{base}_{fmt}"


def pick_artifact(manifest: Manifest, fmt: str) -> Artifact | None:
    """FP32 when the manifest has it (exact), else FP16."""
    return manifest.artifact(fmt, "fp32") or manifest.artifact(fmt, "fp16")


def chosen_formats(manifest: Manifest, request: RepoRequest) -> list[str]:
    present = {a.format for a in manifest.artifacts}
    if request.formats is None:
        return [f for f in ("onnx", "trt", "torchscript") if f in present] + [PYTHON]
    wanted = []
    for f in request.formats:
        key = PYTHON if f == PYTHON else get_format(f).name
        source = "onnx" if key == PYTHON else key
        if source not in present:
            raise WuxError(f"the manifest has no {source} artifact for the {key} model; export it first")
        wanted.append(key)
    return wanted


def warmup_samples(manifest: Manifest) -> np.ndarray:
    """One chunk of the bundled speech sample: warm-up with real audio, not zeros."""
    from wux.verify.signals import make_signal

    return make_signal("speech", 1, manifest.chunk)[0].astype("<f4")


def core_spec(fmt: str, base: str, manifest: Manifest, art: Artifact, opts: ServingOptions) -> ModelSpec:
    kind = "KIND_GPU" if fmt == "trt" else KINDS[opts.kind]
    params: dict[str, str] = {}
    common = dict(
        name=core_name(base, fmt), dims=[1, manifest.chunk], max_batch=opts.max_batch, kind=kind,
        instances=opts.instances, preferred_batch=opts.preferred_batch, queue_delay_us=opts.queue_delay_us,
        warmup_file=WARMUP_FILE if opts.warmup else None,
    )
    if fmt == PYTHON:
        params = {"input_name": art.input.name, "output_name": art.output.name,
                  "provider": "cpu" if opts.kind == "cpu" else "cuda", "threads": str(opts.threads)}
        return ModelSpec(backend=PYTHON, input_name=art.input.name, output_name=art.output.name,
                         parameters=params, **common)
    accelerator = ort_trt_block(opts.ort_trt_fp16, opts.ort_trt_cache) if fmt == "onnx" and opts.ort_trt else ""
    return ModelSpec(platform=PLATFORMS[fmt], default_filename=Path(art.file).name.replace(".fp16", ""),
                     input_name=art.input.name, output_name=art.output.name, accelerator=accelerator, **common)


def front_spec(base: str, core: ModelSpec, manifest: Manifest, opts: ServingOptions) -> ModelSpec:
    w = manifest.windowing
    params = {"core_model": core.name, "core_input": core.input_name, "core_output": core.output_name,
              "input_name": INPUT_NAME, "output_name": OUTPUT_NAME, "sample_rate": str(manifest.sample_rate),
              "window": str(w["window"]),
              "context": str(w["context"]), "crossfade": str(w["crossfade"]), "align": str(w["align"])}
    return ModelSpec(name=base, backend=PYTHON, input_name=INPUT_NAME, output_name=OUTPUT_NAME, dims=[-1],
                     max_batch=0, kind="KIND_CPU", instances=opts.instances, dynamic_batching=False,
                     parameters=params)


def write_model(folder: Path, spec: ModelSpec, files: dict[str, Path], warmup: np.ndarray | None) -> None:
    text = render(spec)
    validate(text, f"{spec.name}/config.pbtxt")
    (folder / "1").mkdir(parents=True)
    (folder / "config.pbtxt").write_text(text)
    for name, src in files.items():
        shutil.copyfile(src, folder / "1" / name)
    if warmup is not None and spec.warmup_file:
        (folder / "warmup").mkdir()
        (folder / "warmup" / spec.warmup_file).write_bytes(warmup.tobytes())


def template(name: str) -> Path:
    return Path(str(resources.files("wux.triton_repo") / "templates" / name))


def clients_dir(repo: Path) -> Path:
    """Stand-alone client scripts live beside the repository: Triton would try to load a folder inside it."""
    return Path(repo).with_name(f"{Path(repo).name}_clients")


def write_clients(folder: Path, manifest: Manifest, front: ModelSpec, core: ModelSpec) -> None:
    from string import Template

    from wux import __version__

    values = {"model": front.name, "input_name": front.input_name, "output_name": front.output_name,
              "core_model": core.name, "core_input": core.input_name, "chunk": manifest.chunk,
              "sample_rate": manifest.sample_rate, "wux_version": __version__}
    for name in ("denoise_client.py", "throughput_client.py"):
        text = Template(template(name + ".tmpl").read_text()).substitute(values)
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)


def generate_repository(export_dir: Path, repo: Path, request: RepoRequest = RepoRequest(),
                        force: bool = False) -> RepoResult:
    """Every chosen core model, the front model, and a README, validated before anything is written."""
    from wux import windowing
    from wux.triton_repo.readme import repository_readme

    manifest = read_manifest(export_dir)
    limit = manifest.spec["batch"]["max"]
    opts = request.options
    if opts.max_batch is None:
        opts = replace(opts, max_batch=limit)
    if opts.max_batch > limit:
        raise WuxError(f"--max-batch {opts.max_batch} exceeds the artifacts' max batch {limit}")
    formats = chosen_formats(manifest, request)
    if request.core not in formats:
        raise WuxError(f"the front model's core {request.core!r} is not among the generated models {formats}")
    warmup = warmup_samples(manifest) if opts.warmup else None
    models, notes, specs = [], [], {}
    with atomic_dir(repo, force=force) as tmp, atomic_dir(clients_dir(repo), force=force) as tmp_clients:
        for fmt in formats:
            art = pick_artifact(manifest, "onnx" if fmt == PYTHON else fmt)
            spec = core_spec(fmt, request.name, manifest, art, opts)
            files = {"model.onnx" if fmt == PYTHON else spec.default_filename: Path(export_dir) / art.file}
            if fmt == PYTHON:
                files["model.py"] = template("core_model.py")
            write_model(tmp / spec.name, spec, files, warmup)
            specs[fmt] = spec
            models.append(RepoModel(spec.name, spec.platform or PYTHON, "core", art.file))
            if art.precision != "fp32":
                notes.append(f"{spec.name} serves the {art.precision} artifact (no fp32 one in the manifest)")
        front = front_spec(request.name, specs[request.core], manifest, opts)
        write_model(tmp / front.name, front, {"model.py": template("front_model.py"),
                                              "windowing.py": Path(windowing.__file__)}, None)
        models.append(RepoModel(front.name, PYTHON, "front", None))
        (tmp / "README.md").write_text(repository_readme(manifest, models, request))
        write_clients(tmp_clients, manifest, front, specs[request.core])
    return RepoResult(str(repo), models, notes, str(clients_dir(repo)))
