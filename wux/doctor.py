"""`wux doctor`: what this environment can do, without failing on anything that is missing."""

from __future__ import annotations

import platform
import shutil
import sys
from dataclasses import asdict, dataclass, field

from wux import __version__
from wux.tools import find_perf_analyzer, find_tritonserver, package_version


@dataclass
class DoctorReport:
    python: str
    platform: str
    wux: str
    torch: str | None = None
    torch_cuda_build: str | None = None
    cuda_available: bool = False
    cuda_devices: list[str] = field(default_factory=list)
    cudnn: str | None = None
    torch_threads: int | None = None
    numpy: str | None = None
    onnx: str | None = None
    onnxruntime: str | None = None
    onnxruntime_providers: list[str] = field(default_factory=list)
    tensorrt: str | None = None
    tritonclient: str | None = None
    soundfile: str | None = None
    espeak_ng: str | None = None
    tritonserver: str | None = None
    perf_analyzer: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_rows(self) -> dict[str, str]:
        absent = "absent"
        rows = {}
        for k, v in self.to_dict().items():
            if isinstance(v, list):
                rows[k] = ", ".join(v) if v else "none"
            elif v is None:
                rows[k] = absent
            else:
                rows[k] = str(v)
        return rows


def _torch_facts(report: DoctorReport) -> None:
    try:
        import torch
    except Exception as e:  # a broken install must not crash the doctor
        report.problems.append(f"torch: {e}")
        return
    report.torch = torch.__version__
    report.torch_cuda_build = torch.version.cuda
    report.torch_threads = torch.get_num_threads()
    try:
        report.cuda_available = bool(torch.cuda.is_available())
        if report.cuda_available:
            report.cuda_devices = [
                f"{torch.cuda.get_device_name(i)} (sm_{''.join(map(str, torch.cuda.get_device_capability(i)))})"
                for i in range(torch.cuda.device_count())
            ]
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        report.cudnn = str(cudnn) if cudnn else None
    except Exception as e:
        report.problems.append(f"cuda: {e}")


def _onnxruntime_facts(report: DoctorReport) -> None:
    try:
        import onnxruntime
    except Exception as e:
        report.problems.append(f"onnxruntime: {e}")
        return
    report.onnxruntime = onnxruntime.__version__
    report.onnxruntime_providers = list(onnxruntime.get_available_providers())


def _tensorrt_facts(report: DoctorReport) -> None:
    try:
        import tensorrt
    except ImportError:
        return
    except Exception as e:
        report.problems.append(f"tensorrt: {e}")
        return
    report.tensorrt = getattr(tensorrt, "__version__", "unknown")


def diagnose() -> DoctorReport:
    report = DoctorReport(python=sys.version.split()[0], platform=platform.platform(), wux=__version__)
    _torch_facts(report)
    _onnxruntime_facts(report)
    _tensorrt_facts(report)
    for name in ("numpy", "onnx", "tritonclient", "soundfile"):
        setattr(report, name, package_version(name))
    espeak = shutil.which("espeak-ng")
    report.espeak_ng = espeak
    server, perf = find_tritonserver(), find_perf_analyzer()
    report.tritonserver = str(server) if server else None
    report.perf_analyzer = str(perf) if perf else None
    return report
