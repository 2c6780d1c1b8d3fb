"""onnxruntime session settings: one definition, read by in-process runners and Triton python models alike.

Standard library only: `wux triton` copies this module beside the python-backend models it generates,
which read the settings back from their config.pbtxt parameters (to_params / from_params).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from wux.errors import ConfigError

EXECUTION_MODES = ("sequential", "parallel")
GRAPH_LEVELS = ("basic", "extended", "all")
PARAM_PREFIX = "ort_"  # config.pbtxt parameter names: ort_intra_op_threads, ort_spinning, ...


@dataclass(frozen=True)
class OrtOptions:
    """The onnxruntime session settings wux sets; 0 threads: onnxruntime's own choice (one per core).

    Spinning is off unless asked for: on a machine shared with a server or a load generator, worker
    threads that spin after each run take the CPU from whoever runs next (seen: an FP32 session twice as
    slow interleaved with another that spun)."""

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    execution_mode: str = "sequential"
    graph_optimization: str = "all"
    spinning: bool = False

    def __post_init__(self) -> None:
        if self.execution_mode not in EXECUTION_MODES or self.graph_optimization not in GRAPH_LEVELS:
            raise ConfigError(f"onnxruntime options: execution_mode one of {EXECUTION_MODES}, graph_optimization "
                              f"one of {GRAPH_LEVELS}; got {self.execution_mode!r}, {self.graph_optimization!r}")
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ConfigError("onnxruntime thread counts cannot be negative")

    def with_threads(self, threads: int | None) -> OrtOptions:
        return self if not threads else replace(self, intra_op_threads=threads)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> OrtOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def to_params(self) -> dict[str, str]:
        """As Triton model parameters (string values)."""
        return {PARAM_PREFIX + k: str(int(v) if isinstance(v, bool) else v) for k, v in self.to_dict().items()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> OrtOptions:
        """From Triton model parameters; absent ones keep their defaults."""
        values = {}
        for f in fields(cls):
            raw = params.get(PARAM_PREFIX + f.name)
            if raw is None:
                continue
            try:
                values[f.name] = (raw not in ("0", "false", "False")) if f.type in (bool, "bool") else (
                    int(raw) if f.type in (int, "int") else raw)
            except ValueError:
                raise ConfigError(f"model parameter {PARAM_PREFIX + f.name}={raw!r} is not a whole number") from None
        return cls(**values)

    def session_options(self, ort):
        """An onnxruntime.SessionOptions with these settings (`ort`: the imported onnxruntime module)."""
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if self.execution_mode == "parallel"
                                  else ort.ExecutionMode.ORT_SEQUENTIAL)
        options.graph_optimization_level = {
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[self.graph_optimization]
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        return options
