"""The layers of the package, lowest first: a module imports from its own layer or lower ones only.

tests/test_layers.py walks every module with `ast` and fails on an import from a higher layer or an
import cycle. A new module gets a line here; nothing else lists the order.
"""

LAYERS: tuple[tuple[str, ...], ...] = (
    # facts about errors, files and the environment; the bundled files
    ("wux", "wux.errors", "wux.fsutil", "wux.progress", "wux.tools", "wux.metrics", "wux.resources", "wux.layers",
     "wux.verify"),  # (wux.verify's __init__ is only a docstring; its modules sit in three layers below)
    # the audio contract, windowing and onnxruntime settings (standard library + numpy: copied into
    # generated Triton models)
    ("wux.contract", "wux.windowing", "wux.ort_settings"),
    # audio data; runtimes that run a model or an artifact; the judge and its tolerances
    ("wux.data.*", "wux.runtime.*", "wux.verify.tolerance", "wux.verify.compare", "wux.verify.results"),
    # parity test signals (bundled speech); Triton clients (read the contract from a server)
    ("wux.verify.signals", "wux.clients.*"),
    # models: wux's own family, the user's own code, loading, the probe
    ("wux.model.*",),
    # exporters, one per format, the format registry, the manifest
    ("wux.export.*",),
    # what reads an export: parity, in-process denoising, the Triton repository, training; evaluation (scores,
    # baselines, spectrograms)
    ("wux.denoise", "wux.denoise_stream", "wux.triton_repo.*", "wux.train.*", "wux.quality.*"),
    # the parity gate and the task gate, which run artifacts the way in-process denoising does
    ("wux.verify.task", "wux.verify.streaming", "wux.verify.parity"),
    # composing all of the above: the export-then-verify pipeline, load measurement, the demo, the Python API,
    # the audio gateway (an export or Triton replicas behind HTTP), deployment files for a repository
    ("wux.pipeline", "wux.perf.*", "wux.demo", "wux.doctor", "wux.api", "wux.gateway.*", "wux.deploy.*"),
    # the command line
    ("wux.render", "wux.cli_options", "wux.cli"),
)


def layer_of(module: str) -> int:
    """Index of the layer `module` belongs to (exact names win over package wildcards)."""
    for i, layer in enumerate(LAYERS):
        if module in layer:
            return i
    for i, layer in enumerate(LAYERS):
        if any(p.endswith(".*") and (module == p[:-2] or module.startswith(p[:-1])) for p in layer):
            return i
    raise KeyError(f"{module} is in no layer of wux.layers.LAYERS")
