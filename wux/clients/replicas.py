"""Several Triton servers serving one repository, used as one: requests go where wux.clients.balance sends
them, and a request whose replica disappears is sent again to another (denoising is idempotent).

A replica that was down when the set was made is connected on its first turn. Every replica must serve the
same audio contract."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from wux.clients.balance import Balancer
from wux.clients.triton import TritonDenoiser, is_unavailable
from wux.contract import AudioContract
from wux.errors import WuxError, first_line


@dataclass
class Replica:
    url: str
    client: TritonDenoiser | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class ReplicaSet:
    def __init__(self, urls: list[str], model: str = "waveunet", protocol: str = "grpc", timeout_s: float = 30.0,
                 cooldown_s: float = 2.0):
        if not urls:
            raise WuxError("no Triton URL given")
        self.model, self.protocol, self.timeout_s, self.cooldown_s = model, protocol, timeout_s, cooldown_s
        self.replicas = [Replica(u) for u in dict.fromkeys(urls)]
        self.by_url = {r.url: r for r in self.replicas}
        self.balancer = Balancer([r.url for r in self.replicas], cooldown_s)
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
            self.balancer.failed(r.url, str(e), retrying=False)
            return str(e)
        return None

    def check_contract(self, r: Replica) -> None:
        if r.client.info.contract != self.contract:
            raise WuxError(f"{r.url} serves model {self.model!r} with another audio contract than "
                           f"{self.replicas[0].url}: replicas must serve one repository")

    @property
    def served(self) -> dict[str, int]:
        """Requests each replica answered (reports, tests)."""
        return dict(self.balancer.served)

    @property
    def failovers(self) -> int:
        """Requests sent again to another replica after theirs failed."""
        return self.balancer.failovers

    # -- inference

    def denoise(self, wave: np.ndarray) -> np.ndarray:
        """Mono float32 waveform in, same length out, from the first replica that answers."""
        tried: set[str] = set()
        errors: list[str] = []
        while (url := self.balancer.acquire(tried)) is not None:
            tried.add(url)
            answered = False
            try:
                out = self.denoise_on(self.by_url[url], wave)
                answered = True
                return out
            except Exception as e:  # noqa: BLE001 - a replica's failure is the next replica's turn
                if not (is_unavailable(e) or isinstance(e, WuxError)):
                    raise
                self.balancer.failed(url, first_line(e), retrying=True)
                errors.append(f"{url}: {first_line(e)}")
            finally:
                self.balancer.release(url, answered)
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
