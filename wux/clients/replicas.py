"""Several Triton servers serving one repository, used as one: requests go to the healthy replica with the
fewest in flight, and a request whose replica disappears is sent again to another (denoising is idempotent).

A replica that fails is left alone for `cooldown_s`, then tried again; one that was down when the set was
made is connected on its first turn. Every replica must serve the same audio contract."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from wux.clients.triton import TritonDenoiser, is_unavailable
from wux.contract import AudioContract
from wux.errors import WuxError, first_line


@dataclass
class Replica:
    url: str
    client: TritonDenoiser | None = None
    inflight: int = 0
    served: int = 0  # requests answered (for reports and tests)
    down_until: float = 0.0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class ReplicaSet:
    def __init__(self, urls: list[str], model: str = "waveunet", protocol: str = "grpc", timeout_s: float = 30.0,
                 cooldown_s: float = 2.0):
        if not urls:
            raise WuxError("no Triton URL given")
        self.model, self.protocol, self.timeout_s, self.cooldown_s = model, protocol, timeout_s, cooldown_s
        self.replicas = [Replica(u) for u in dict.fromkeys(urls)]
        self.lock = threading.Lock()
        self.failovers = 0  # requests sent again to another replica after theirs failed
        errors = [self.connect(r) for r in self.replicas]
        up = [r for r in self.replicas if r.client is not None]
        if not up:
            raise WuxError("no Triton replica is reachable: " + "; ".join(e for e in errors if e))
        self.contract: AudioContract = up[0].client.info.contract
        for r in up[1:]:
            self.check_contract(r)

    # -- replicas

    def connect(self, r: Replica) -> str | None:
        """Connect `r` (fast: one try, the set fails over instead of waiting); the error, or None."""
        try:
            r.client = TritonDenoiser(r.url, self.model, self.protocol, timeout_s=self.timeout_s, retries=0)
        except WuxError as e:
            self.mark_down(r, str(e))
            return str(e)
        return None

    def check_contract(self, r: Replica) -> None:
        if r.client.info.contract != self.contract:
            raise WuxError(f"{r.url} serves model {self.model!r} with another audio contract than "
                           f"{self.replicas[0].url}: replicas must serve one repository")

    def mark_down(self, r: Replica, why: str) -> None:
        r.down_until, r.last_error = time.monotonic() + self.cooldown_s, why

    def pick(self, tried: set[str]) -> Replica | None:
        """The replica to try next: not yet tried for this request, not cooling down, fewest in flight."""
        now = time.monotonic()
        with self.lock:
            fresh = [r for r in self.replicas if r.url not in tried]
            healthy = [r for r in fresh if r.down_until <= now]
            candidates = healthy or fresh  # all cooling down: try them anyway rather than fail untried
            if not candidates:
                return None
            best = min(candidates, key=lambda r: (r.inflight, r.served))
            best.inflight += 1
            return best

    # -- inference

    def denoise(self, wave: np.ndarray) -> np.ndarray:
        """Mono float32 waveform in, same length out, from the first replica that answers."""
        tried: set[str] = set()
        errors: list[str] = []
        while (r := self.pick(tried)) is not None:
            tried.add(r.url)
            try:
                out = self.denoise_on(r, wave)
            except Exception as e:  # noqa: BLE001 - a replica's failure is the next replica's turn
                if not (is_unavailable(e) or isinstance(e, WuxError)):
                    raise
                self.mark_down(r, first_line(e))
                errors.append(f"{r.url}: {first_line(e)}")
                with self.lock:
                    self.failovers += 1
                continue
            finally:
                with self.lock:
                    r.inflight -= 1
            with self.lock:
                r.served += 1
            return out
        raise WuxError("no Triton replica answered: " + "; ".join(errors))

    def denoise_on(self, r: Replica, wave: np.ndarray) -> np.ndarray:
        if r.client is None:
            with r.lock:
                if r.client is None and (err := self.connect(r)):
                    raise WuxError(err)
            self.check_contract(r)
        return r.client.denoise(wave)

    def ready(self) -> bool:
        """True while at least one replica says it is ready."""
        for r in self.replicas:
            try:
                if r.client is not None and r.client.client.is_server_ready():
                    return True
            except Exception:  # noqa: BLE001 - a replica that cannot answer is not ready
                continue
        return False

    def close(self) -> None:
        for r in self.replicas:
            if r.client is not None:
                r.client.close()

    def __enter__(self) -> ReplicaSet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
