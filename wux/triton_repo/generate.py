"""`wux triton`: a Triton model repository from an export folder's manifest, written atomically."""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

import wux
from wux import contract as contract_module
from wux import errors as errors_module
from wux import ort_settings, windowing
from wux.contract import PARAM_KEYS, AudioContract, CoreRef, StreamParams
from wux.contract import STEP_NEXT_STATE as NEXT_STATE
from wux.contract import STEP_STATE as STATE
from wux.errors import WuxError, few
from wux.export.formats import get_format
from wux.export.manifest import Artifact, Manifest, artifact_path, read_manifest
from wux.export.step import StreamingRecord
from wux.fsutil import (
    atomic_dir,
    atomic_file,
    check_new_output,
    folder_lock,
    is_or_holds,
    refuse_replacing_inputs,
    scratch_beside,
)
from wux.ort_settings import OrtOptions
from wux.triton_repo.config import (
    KINDS,
    PLATFORMS,
    PRECISION_PARAMETER,
    ModelSpec,
    ServingOptions,
    StreamSpec,
    model_config,
    onnxruntime_backend_settings,
    ort_trt_parameters,
    render,
    stream_config,
    validate,
)
from wux.triton_repo.container import Container, container_for
from wux.triton_repo.readme import repository_readme
from wux.verify.signals import make_signal

PYTHON = "python"
WARMUP_FILE = "speech.raw"
CORE_ONNX_FILE = "model.onnx"  # the file the python-backend core model runs (templates/core_model.py reads it)
STEP_ONNX_FILE = "step.onnx"  # the step model the python-backend streaming model runs (templates/stream_model.py)
STREAM_SUFFIX = "_stream"
README_FILE, DOCKERFILE = "README.md", "Dockerfile"  # at a repository's top (NAME.README.md ... when --add-ed)
ROOT_FILES = (README_FILE, DOCKERFILE)
RECORD_FILE = "wux_models.json"  # the models wux wrote into a repository (never replace anyone else's)


def stream_model_name(model: str) -> str:
    """The streaming model generated beside front model `model` (a name that already is one stays as it is)."""
    return model if model.endswith(STREAM_SUFFIX) else model + STREAM_SUFFIX
# wux modules the generated python models import (standard library and numpy only), copied beside them.
VENDORED = (wux, errors_module, contract_module, windowing, ort_settings)


MODEL_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # a folder name in the repository, and a URL segment


@dataclass(frozen=True)
class RepoRequest:
    name: str = "waveunet"
    formats: tuple[str, ...] | None = None  # None: every format in the manifest, plus python
    core: str = PYTHON  # the core model the front model calls
    precision: str | None = None  # None: fp32 where the manifest has it, else fp16; or exactly this one
    options: ServingOptions = field(default_factory=ServingOptions)

    def __post_init__(self):
        if not MODEL_NAME.fullmatch(self.name):
            raise WuxError(f"--name {self.name!r}: a Triton model name is letters, digits, '_', '-' and '.', "
                           "not starting with '.'")


@dataclass(frozen=True)
class RepoModel:
    name: str
    kind: str  # platform or backend
    role: str  # "core", "front" or "stream"
    source: str | None  # artifact file it serves


@dataclass
class RepoResult:
    repo: str
    models: list[RepoModel]
    notes: list[str]
    clients: str = ""
    docker: str = ""  # the docker build/run line for NVIDIA's container
    deploy: dict | None = None  # deployment files written beside it (wux.deploy), when asked for
    readme: str = ""  # the README describing these models (REPO/README.md, or NAME.README.md when added)
    added: bool = False  # written into an existing repository beside other models

    def to_dict(self) -> dict:
        return asdict(self)


def core_name(base: str, fmt: str) -> str:
    return f"{base}_{fmt}"


def source_format(fmt: str) -> str:
    """The artifact format a repository model serves (the python-backend core model runs the ONNX one)."""
    return "onnx" if fmt == PYTHON else fmt


def pick_artifact(manifest: Manifest, fmt: str, precision: str | None = None) -> Artifact | None:
    """The requested precision, else FP32 when the manifest has it (exact), else FP16."""
    if precision:
        return manifest.artifact(fmt, precision)
    return manifest.artifact(fmt, "fp32") or manifest.artifact(fmt, "fp16")


def chosen_formats(manifest: Manifest, request: RepoRequest) -> list[str]:
    """The models to generate: those asked for (each must have its artifact), else every one there is."""
    present = {a.format for a in manifest.artifacts if pick_artifact(manifest, a.format, request.precision)}
    if request.formats is None:
        wanted = [f for f in PLATFORMS if f in present] + ([PYTHON] if "onnx" in present else [])
        if not wanted:
            raise WuxError(f"the manifest has no {request.precision} artifact; export one with "
                           f"--precision {request.precision}")
        return wanted
    wanted = []
    for f in request.formats:
        key = PYTHON if f == PYTHON else get_format(f).name
        if key not in present and source_format(key) not in present:
            what = f"{request.precision} {source_format(key)}" if request.precision else source_format(key)
            raise WuxError(f"the manifest has no {what} artifact for the {key} model; export it first")
        wanted.append(key)
    return wanted


def warmup_samples(contract: AudioContract) -> np.ndarray:
    """One chunk of the bundled speech sample: warm-up with real audio, not zeros."""
    return make_signal("speech", 1, contract.chunk)[0].astype("<f4")


def core_spec(fmt: str, base: str, contract: AudioContract, art: Artifact, opts: ServingOptions) -> ModelSpec:
    common = dict(
        name=core_name(base, fmt), input_name=art.input.name, output_name=art.output.name, dims=[1, contract.chunk],
        max_batch=opts.max_batch, kind="KIND_GPU" if fmt == "trt" else KINDS[opts.kind], instances=opts.instances,
        preferred_batch=opts.preferred_batch, queue_delay_us=opts.queue_delay_us, max_queue_size=opts.max_queue_size,
        queue_timeout_us=opts.queue_timeout_us, warmup_file=WARMUP_FILE if opts.warmup else None,
    )
    params = {**contract.to_params(), PRECISION_PARAMETER: art.precision}
    session = art.session.with_threads(opts.threads)  # tuned in the manifest (wux bench --tune), or defaults
    if fmt == PYTHON:
        params.update(session.to_params(), provider="cpu" if opts.kind == "cpu" else "cuda")
        return ModelSpec(backend=PYTHON, parameters=params, **common)
    graph_level = None
    if fmt == "onnx":
        ort_params, graph_level = onnxruntime_backend_settings(session)
        params.update(ort_params)
    ort_trt = ort_trt_parameters(opts.ort_trt_fp16, opts.ort_trt_cache) if fmt == "onnx" and opts.ort_trt else None
    return ModelSpec(platform=PLATFORMS[fmt], default_filename=Path(art.file).name.replace(f".{art.precision}", ""),
                     parameters=params, ort_trt=ort_trt, graph_level=graph_level, **common)


def front_spec(base: str, core: ModelSpec, contract: AudioContract, opts: ServingOptions) -> ModelSpec:
    params = {**contract.to_params(), **CoreRef(core.name, core.input_name, core.output_name).to_params(),
              PRECISION_PARAMETER: core.parameters[PRECISION_PARAMETER]}
    return ModelSpec(name=base, backend=PYTHON, input_name=contract.input_name, output_name=contract.output_name,
                     dims=[-1], max_batch=0, kind="KIND_CPU", instances=opts.instances, dynamic_batching=False,
                     parameters=params)


def write_model(folder: Path, spec: ModelSpec, files: dict[str, Path], warmup: np.ndarray | None) -> None:
    write_config_and_files(folder, model_config(spec), files)
    if warmup is not None and spec.warmup_file:
        (folder / "warmup").mkdir()
        (folder / "warmup" / spec.warmup_file).write_bytes(warmup.tobytes())


def write_config_and_files(folder: Path, config, files: dict[str, Path]) -> None:
    """config.pbtxt (validated against Triton's schema) and version 1's files."""
    text = render(config)
    validate(text, f"{config.name}/config.pbtxt")
    (folder / "1").mkdir(parents=True)
    (folder / "config.pbtxt").write_text(text)
    for name, src in files.items():
        (folder / "1" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / "1" / name)


def write_stream_models(folder: Path, export_dir: Path, manifest: Manifest, name: str, opts: ServingOptions
                        ) -> list[RepoModel]:
    """A causal export's streaming models: NAME_stream (python backend, each stream's state kept by correlation
    id; what `wux serve` runs here) and NAME_stream_onnx (the step file with Triton's implicit state, for a
    server with the onnxruntime backend)."""
    record = StreamingRecord.from_dict(manifest.streaming)
    step = Path(export_dir) / record.artifact("onnx").file
    spec = StreamSpec(name=stream_model_name(name), frame_multiple=record.frame_multiple,
                      state_size=record.state_size, max_batch=opts.stream_max_batch,
                      idle_us=round(opts.stream_idle_s * 1e6), queue_delay_us=opts.stream_queue_delay_us,
                      instances=opts.stream_instances)
    stream = StreamParams(record.frame_multiple, record.state_size, record.frame, spec.idle_us / 1e6)
    described = {**manifest.contract.to_params(), **stream.to_params()}  # what clients read from either config
    python = replace(spec, parameters={**described, **OrtOptions().with_threads(opts.threads or 1).to_params()})
    write_config_and_files(folder / python.name, stream_config(python),
                           python_model_files("stream_model.py", {STEP_ONNX_FILE: step}))
    native = replace(spec, name=f"{spec.name}_onnx", parameters=described)
    write_config_and_files(folder / native.name, stream_config(native, PLATFORMS["onnx"], (STATE, NEXT_STATE)),
                           {CORE_ONNX_FILE: step})
    return [RepoModel(python.name, PYTHON, "stream", record.artifact("onnx").file),
            RepoModel(native.name, PLATFORMS["onnx"], "stream", record.artifact("onnx").file)]


def vendored_files() -> dict[str, Path]:
    """wux's contract, windowing and errors modules, as the package `wux` beside a python model."""
    return {f"wux/{Path(m.__file__).name}": Path(m.__file__) for m in VENDORED}


def python_model_files(template_name: str, extra: dict[str, Path] | None = None) -> dict[str, Path]:
    return {"model.py": template(template_name), **vendored_files(), **(extra or {})}


def template(name: str) -> Path:
    return Path(str(resources.files("wux.triton_repo") / "templates" / name))


def clients_dir(repo: Path) -> Path:
    """Stand-alone client scripts live beside the repository: Triton would try to load a folder inside it."""
    return Path(repo).with_name(f"{Path(repo).name}_clients")


def write_clients(folder: Path, contract: AudioContract, front: ModelSpec, core: ModelSpec) -> None:
    from string import Template

    values = {"model": front.name, "input_name": front.input_name, "output_name": front.output_name,
              "core_model": core.name, "core_input": core.input_name, "chunk": contract.chunk,
              "sample_rate": contract.sample_rate, "wux_version": wux.__version__}
    for name in ("denoise_client.py", "throughput_client.py"):
        text = Template(template(name + ".tmpl").read_text()).substitute(values)
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)


def check_unchanged(export_dir: Path, manifest: Manifest, formats: list[str], precision: str | None) -> None:
    """Serve only what the parity gate passed: every file the repository will copy (the chosen artifacts, and a
    causal export's step model) is there with the sha256 its export recorded."""
    files = [pick_artifact(manifest, source_format(fmt), precision) for fmt in formats]
    if manifest.streaming:
        files.append(StreamingRecord.from_dict(manifest.streaming).artifact("onnx"))
    for art in files:
        artifact_path(export_dir, art)


def generate_repository(export_dir: Path, repo: Path, request: RepoRequest = RepoRequest(),
                        force: bool = False, add: bool = False) -> RepoResult:
    """Every chosen core model, the front model, and a README, validated before anything is written: a repository
    of its own (replacing one wux wrote only with `force`), or, with `add`, model folders added to an existing
    repository beside the models already there (replacing wux's own of the same names only with `force`)."""
    manifest = read_manifest(export_dir)
    opts = request.options
    if opts.max_batch is None:
        opts = replace(opts, max_batch=manifest.max_batch)
    if opts.max_batch > manifest.max_batch:
        raise WuxError(f"--max-batch {opts.max_batch} exceeds the artifacts' max batch {manifest.max_batch}")
    if any(b > opts.max_batch for b in opts.preferred_batch):
        raise WuxError(f"--preferred-batch {','.join(map(str, opts.preferred_batch))}: a preferred batch cannot "
                       f"exceed the max batch {opts.max_batch}")
    request = replace(request, options=opts)
    formats = chosen_formats(manifest, request)
    if request.core not in formats:
        raise WuxError(f"the front model's core {request.core!r} is not among the generated models {formats}")
    check_unchanged(export_dir, manifest, formats, request.precision)
    if add:
        return add_to_repository(export_dir, manifest, repo, request, formats, force)
    replacing = force and Path(repo).is_dir()
    with repository_lock(repo) if replacing else nullcontext():  # never under a running --add
        if replacing:
            refuse_replacing_inputs(repo, [export_dir])  # the sharper reason first
            refuse_foreign_models(repo)
        with atomic_dir(repo, force=force, inputs=[export_dir]) as tmp, \
                atomic_dir(clients_dir(repo), force=force, inputs=[export_dir]) as tmp_clients:
            models, notes, container = write_repository(tmp, tmp_clients, export_dir, manifest, request, formats)
            write_record(tmp, {request.name: [m.name for m in models]})
    return RepoResult(str(repo), models, notes, str(clients_dir(repo)), container.run,
                      readme=str(Path(repo) / README_FILE))


def add_to_repository(export_dir: Path, manifest: Manifest, repo: Path, request: RepoRequest, formats: list[str],
                      force: bool) -> RepoResult:
    """Every name cleared first; the models then written beside `repo` and renamed into it one folder at a time,
    the client scripts last."""
    repo = Path(repo)
    if not repo.is_dir():
        raise WuxError("--add writes into an existing model repository folder, and there is none here (leave out "
                       "--add to make one)", repo)
    if is_or_holds(repo, export_dir):
        raise WuxError(f"is or holds the export folder {export_dir}, which tritonserver would take for a model (and "
                       "fail on); --add into a repository beside it", repo)
    check_same_file_system(repo)
    with repository_lock(repo):
        return add_unlocked(export_dir, manifest, repo, request, formats, force)


def repository_lock(repo: Path):
    """Held by `wux triton` while it adds to or replaces an existing repository: one writer at a time, so that no
    record entry is lost and no repository is replaced under an add."""
    return folder_lock(repo, f"waiting for another wux triton writing into {repo} to finish")


def add_unlocked(export_dir: Path, manifest: Manifest, repo: Path, request: RepoRequest, formats: list[str],
                 force: bool) -> RepoResult:
    """add_to_repository's work, run while it holds the repository's lock: two adds never read the same record."""
    names = planned_models(manifest, request, formats)
    extras = [f"{request.name}.{name}" for name in ROOT_FILES]
    check_addable(repo, request.name, names, extras, force)
    clients = added_clients_dir(repo, request.name)
    check_new_output(clients, force, inputs=[export_dir])
    with scratch_beside(repo, ".partial") as build:
        (build / ".clients").mkdir()
        models, notes, container = write_repository(build, build / ".clients", export_dir, manifest, request, formats,
                                                    own_files=f"{request.name}.")
        record = read_record(repo)
        stale = [n for n in record.get(request.name, [])
                 if n not in names and (repo / n).is_dir() and carries_contract(repo / n)]
        move_into(build, repo, names + extras, stale)
        write_record(repo, {**record, request.name: names})
        with atomic_dir(clients, force=force, inputs=[export_dir]) as tmp_clients:
            for script in (build / ".clients").iterdir():
                os.replace(script, tmp_clients / script.name)
    notes.append(f"added to a repository with other models: they are served together; {container.dockerfile_name} "
                 "copies the whole repository")
    return RepoResult(str(repo), models, notes, str(clients), container.run, readme=str(repo / extras[0]), added=True)


def planned_models(manifest: Manifest, request: RepoRequest, formats: list[str]) -> list[str]:
    """The model folders write_repository makes, in its order, known before anything is written."""
    names = [core_name(request.name, fmt) for fmt in formats] + [request.name]
    if manifest.streaming:
        stream = stream_model_name(request.name)
        names += [stream, f"{stream}_onnx"]
    return names


def check_same_file_system(repo: Path) -> None:
    """--add builds beside the repository and renames into it, which one file system allows and two do not."""
    if repo.stat().st_dev != repo.absolute().parent.stat().st_dev:
        raise WuxError("is a mount point: --add builds the models beside it and renames them in, which needs one "
                       "file system; run it on the folder the mount comes from, or generate a repository of its own "
                       "(tritonserver takes --model-repository more than once)", repo)


def write_repository(folder: Path, clients: Path, export_dir: Path, manifest: Manifest, request: RepoRequest,
                     formats: list[str], own_files: str = "") -> tuple[list[RepoModel], list[str], Container]:
    """Write the models, the README and Dockerfile (prefixed by `own_files` in a shared repository) into `folder`
    and the client scripts into `clients`."""
    contract, opts = manifest.contract, request.options
    warmup = warmup_samples(contract) if opts.warmup else None
    models, notes, specs = [], [], {}
    for fmt in formats:
        art = pick_artifact(manifest, source_format(fmt), request.precision)
        spec = core_spec(fmt, request.name, contract, art, opts)
        source = Path(export_dir) / art.file
        files = (python_model_files("core_model.py", {CORE_ONNX_FILE: source}) if fmt == PYTHON
                 else {spec.default_filename: source})
        write_model(folder / spec.name, spec, files, warmup)
        specs[fmt] = spec
        models.append(RepoModel(spec.name, spec.platform or PYTHON, "core", art.file))
        if art.precision != "fp32" and not request.precision:
            notes.append(f"{spec.name} serves the {art.precision} artifact (no fp32 one in the manifest)")
    front = front_spec(request.name, specs[request.core], contract, opts)
    write_model(folder / front.name, front, python_model_files("front_model.py"), None)
    models.append(RepoModel(front.name, PYTHON, "front", None))
    if manifest.streaming:  # a causal model: its streams too, with no extra flag
        models += write_stream_models(folder, export_dir, manifest, request.name, opts)
    container = container_for({a.details.get("tensorrt") for a in manifest.artifacts if a.format == "trt"},
                              gpu=any(m.kind == PLATFORMS["trt"] for m in models) or opts.kind != "cpu",
                              dockerfile_name=f"{own_files}{DOCKERFILE}")
    (folder / container.dockerfile_name).write_text(container.dockerfile)
    (folder / f"{own_files}{README_FILE}").write_text(repository_readme(manifest, models, request, container))
    if container.note:
        notes.append(container.note)
    write_clients(clients, contract, front, specs[request.core])
    return models, notes, container


def write_record(repo: Path, fronts: dict[str, list[str]]) -> None:
    """The models wux wrote into `repo`, by front model, so that replacing or adding never removes anyone else's."""
    with atomic_file(Path(repo) / RECORD_FILE) as tmp:
        tmp.write_text(json.dumps({"fronts": fronts}, indent=2) + "\n")


def read_record(repo: Path) -> dict[str, list[str]] | None:
    """Front model -> the model folders wux wrote with it into `repo`: {} without a record, None for a record that
    cannot be read (then nothing there counts as wux's)."""
    path = Path(repo) / RECORD_FILE
    if not path.exists():
        return {}
    try:
        fronts = json.loads(path.read_text())["fronts"]
        return {str(k): [str(n) for n in v] for k, v in fronts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def foreign_entries(repo: Path) -> list[str]:
    """What in `repo` wux did not write: model folders not in its record (without a record, as wux wrote
    repositories before keeping one: folders whose configs lack wux's audio contract), and any other file or
    folder but the README, Dockerfile and record wux writes at the top."""
    record = read_record(repo)
    if record is None:
        return sorted(p.name for p in Path(repo).iterdir() if p.name != RECORD_FILE)
    ours = {*ROOT_FILES, RECORD_FILE, *(n for names in record.values() for n in names),
            *(f"{front}.{name}" for front in record for name in ROOT_FILES)}
    before_records = not record  # a repository from before wux kept one: its configs say whose models they are
    return sorted(p.name for p in Path(repo).iterdir()
                  if p.name not in ours and not (before_records and p.is_dir() and carries_contract(p)))


def carries_contract(model_dir: Path) -> bool:
    """Whether the model's config carries wux's audio contract as parameters, as the configs wux writes do (a
    native streaming model that wux wrote before 2026-12-03 carries none)."""
    try:
        text = (model_dir / "config.pbtxt").read_text(errors="replace")
    except OSError:
        return False
    return all(f'key: "{key}"' in text for key in PARAM_KEYS)


def refuse_foreign_models(repo: Path) -> None:
    """--force replaces a repository wux wrote, never one holding anything else too."""
    foreign = foreign_entries(repo)
    if foreign:
        raise WuxError(f"holds what wux did not write ({few(foreign, 5)})"
                       "; --force would delete it: add to it with --add, or choose another --repo", repo)


def check_addable(repo: Path, front: str, models: list[str], files: list[str], force: bool) -> None:
    """Every model and file `--add --name FRONT` writes: new, or (with --force) one an earlier `--add` of that
    --name wrote; never another front's or someone else's model (the files carry FRONT's name)."""
    record = read_record(repo)
    if record is None:
        raise WuxError(f"its {RECORD_FILE} cannot be read, so which models wux wrote there is unknown; mend or "
                       "remove it", repo)
    taken = [n for n in [*models, *files] if os.path.lexists(Path(repo) / n)]
    mine = set(record.get(front, []))
    others = [n for n in models if n in taken and n not in mine]
    if others:
        raise WuxError(f"already holds {', '.join(others)}, which no earlier wux --add --name {front} wrote; choose "
                       "another --name", repo)
    if taken and not force:
        raise WuxError(f"already holds {', '.join(taken)} from an earlier wux --add --name {front}; use --force to "
                       "replace them", repo)


def move_into(build: Path, repo: Path, names: list[str], stale: list[str] = ()) -> None:
    """Each model folder or file renamed from `build` into `repo`; one being replaced, and an earlier run's model
    this one no longer writes (`stale`), goes to `build` first (removed with it). A server polling the repository
    never sees a half-written model; a replaced one is missing for the moment between two renames. A rename that
    fails undoes those before it, so the repository is left as it was."""
    done: list[tuple[Path, Path]] = []

    def rename(src: Path, dst: Path) -> None:
        os.replace(src, dst)
        done.append((src, dst))

    try:
        for name in stale:
            rename(Path(repo) / name, build / f".old.{name}")
        for name in names:
            target = Path(repo) / name
            if os.path.lexists(target):
                rename(target, build / f".old.{name}")
            rename(build / name, target)
    except OSError:
        for src, dst in reversed(done):
            os.replace(dst, src)
        raise


def added_clients_dir(repo: Path, name: str) -> Path:
    """Client scripts for models added to a shared repository: beside it, one folder per --name."""
    return Path(repo).with_name(f"{Path(repo).name}_{name}_clients")
