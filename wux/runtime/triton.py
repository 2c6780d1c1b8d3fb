"""A Triton core model as a runner: a batch of windows sent as one request over gRPC."""

from __future__ import annotations

import numpy as np

from wux.contract import AudioContract, parameters_of
from wux.errors import WuxError, first_line
from wux.runtime.base import Runner, ShapeLimits, TensorIO
from wux.tools import require


class TritonRunner(Runner):
    """Runs [batch, chunk] on a served core model ([batch, 1, chunk] tensors); limits come from its config."""

    name = "triton"

    def __init__(self, url: str, model: str, timeout_s: float = 30.0):
        super().__init__()
        self.url, self.model, self.timeout_s = url, model, timeout_s
        self.client = None
        self.contract: AudioContract | None = None

    def load(self) -> None:
        grpc = require("tritonclient.grpc")
        self.client = grpc.InferenceServerClient(self.url)
        try:
            config = self.client.get_model_config(self.model, client_timeout=self.timeout_s).config
        except Exception as e:  # noqa: BLE001 - connection and lookup failures become one line
            raise WuxError(f"cannot use model {self.model!r} at {self.url}: {first_line(e)}") from None
        self.contract = AudioContract.from_params(parameters_of(config), f"model {self.model!r}")
        self.io = TensorIO(config.input[0].name, config.output[0].name)
        chunk = self.contract.chunk
        self.limits = ShapeLimits(1, max(config.max_batch_size, 1), chunk, chunk)

    def run(self, wave: np.ndarray) -> np.ndarray:
        import tritonclient.grpc as grpc

        x = wave[:, None, :]
        inp = grpc.InferInput(self.io.input_name, list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        result = self.client.infer(self.model, [inp], client_timeout=self.timeout_s)
        out = result.as_numpy(self.io.output_name)
        return out.reshape(out.shape[0], -1)

    def infer(self, wave: np.ndarray) -> np.ndarray:
        self.activate()  # the limits come from the server: load before checking the input
        return super().infer(wave)

    __call__ = infer

    def release(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None
