"""The step model of a causal Wave-U-Net, exported beside the offline artifacts: TorchScript and ONNX, with the
stream's state as an explicit input and output (TensorRT builds from the ONNX file like the offline model).

    frame [batch, 1, frame] + state [batch, state_size] -> denoised [batch, 1, frame] + next_state [batch, S]

Batch and frame length are dynamic (frames are multiples of the total stride). The manifest's `streaming`
record names the files, the tensors and the frame grid; `wux verify` streams whole signals frame by frame
through each file and compares them with the offline PyTorch forward (wux.verify.streaming)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wux.contract import STEP_DENOISED as DENOISED
from wux.contract import STEP_FRAME as FRAME
from wux.contract import STEP_NEXT_STATE as NEXT_STATE
from wux.contract import STEP_STATE as STATE
from wux.errors import WuxError
from wux.fsutil import sha256_file

STEP_FILES = {"torchscript": "step.pt", "onnx": "step.onnx"}
STEP_OPSET = 17

StepRunner = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class StepArtifact:
    format: str
    file: str
    sha256: str
    bytes: int
    verification: dict[str, Any] | None = None


@dataclass
class StreamingRecord:
    """The manifest's `streaming` entry."""

    frame_multiple: int  # frames are multiples of this many samples (the total stride)
    frame: int  # the frame the export was verified and is served with by default (20 ms, on the grid)
    state_size: int
    sample_rate: int
    artifacts: list[StepArtifact] = field(default_factory=list)
    tensors: dict[str, str] = field(default_factory=lambda: {
        "frame": FRAME, "state": STATE, "output": DENOISED, "next_state": NEXT_STATE})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StreamingRecord:
        return cls(**{**d, "artifacts": [StepArtifact(**a) for a in d["artifacts"]]})

    def artifact(self, fmt: str) -> StepArtifact:
        found = next((a for a in self.artifacts if a.format == fmt), None)
        if found is None:
            raise WuxError(f"the export has no {fmt} step model (it has: "
                           f"{', '.join(a.format for a in self.artifacts)})")
        return found

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.frame / self.sample_rate


def step_model_of(module):
    """The step model of a causal Wave-U-Net module, else None (nothing to stream)."""
    from wux.model.streaming import StreamingWaveUNet
    from wux.model.waveunet import WaveUNet

    if isinstance(module, WaveUNet) and module.config.causal:
        return StreamingWaveUNet(module).eval()
    return None


def export_step_models(step, folder: Path, frame: int, sample_rate: int) -> StreamingRecord:
    """Write step.pt (traced TorchScript) and step.onnx (its convolutions 2-D: wux.export.conv2d, 1.2x faster a
    frame) into `folder`; the record lists them."""
    import onnx
    import torch

    from wux.export.conv2d import as_2d_convolutions

    folder = Path(folder)
    record = StreamingRecord(step.total_stride, frame, step.state_size, sample_rate)
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(step, step_example(step, frame), check_trace=False)
    traced.save(str(folder / STEP_FILES["torchscript"]))
    model = step_onnx(step, frame)
    if as_2d_convolutions(model):
        onnx.checker.check_model(model)
    onnx.save(model, str(folder / STEP_FILES["onnx"]))
    for fmt, name in STEP_FILES.items():
        path = folder / name
        record.artifacts.append(StepArtifact(fmt, name, sha256_file(path), path.stat().st_size))
    return record


def step_example(step, frame: int):
    """One frame of silence and a fresh state: the example inputs the step model is traced with."""
    import torch

    return torch.zeros(1, 1, frame), step.initial_state(1)


def step_onnx(step, frame: int):
    """The step model as torch.onnx writes it (an onnx.ModelProto; batch and frame length dynamic)."""
    import io

    import onnx
    import torch

    buffer = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            step, step_example(step, frame), buffer, input_names=[FRAME, STATE],
            output_names=[DENOISED, NEXT_STATE], opset_version=STEP_OPSET, dynamo=False,
            dynamic_axes={FRAME: {0: "batch", 2: "frame"}, STATE: {0: "batch"},
                          DENOISED: {0: "batch", 2: "frame"}, NEXT_STATE: {0: "batch"}})
    return onnx.load_from_string(buffer.getvalue())


def load_step(folder: Path, record: StreamingRecord, fmt: str = "onnx", threads: int | None = None) -> StepRunner:
    """A step artifact as a function of numpy arrays: (frame [B,1,F], state [B,S]) -> (denoised, next state)."""
    from wux.export.manifest import artifact_path

    path = artifact_path(folder, record.artifact(fmt))
    if fmt == "torchscript":
        import torch

        module = torch.jit.load(str(path), map_location="cpu").eval()

        def run_ts(frame: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with torch.inference_mode():
                y, s = module(torch.from_numpy(frame), torch.from_numpy(state))
            return y.numpy(), s.numpy()

        return run_ts
    from wux.tools import require

    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run_onnx(frame: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, s = session.run([DENOISED, NEXT_STATE], {FRAME: frame, STATE: state})
        return y, s

    return run_onnx
