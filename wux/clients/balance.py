"""The rule for spreading requests over several servers of one repository, for the threaded ReplicaSet and
the asyncio load generator alike: a request goes to a server it has not tried yet, not cooling down after a
failure, with the fewest requests in flight (then the fewest answered); a server that fails is left alone for
`cooldown_s`, and tried anyway when every server is cooling down."""

from __future__ import annotations

import threading
import time


class Balancer:
    def __init__(self, urls: list[str], cooldown_s: float = 2.0):
        self.urls = list(dict.fromkeys(urls))
        self.cooldown_s = cooldown_s
        self.inflight = dict.fromkeys(self.urls, 0)
        self.served = dict.fromkeys(self.urls, 0)  # requests answered
        self.down_until = dict.fromkeys(self.urls, 0.0)
        self.last_error: dict[str, str] = {}
        self.failovers = 0  # requests sent again to another server after theirs failed
        self.lock = threading.Lock()

    def acquire(self, tried: set[str]) -> str | None:
        """The server to send a request to next (counted in flight until `release`), or None: all tried."""
        now = time.monotonic()
        with self.lock:
            fresh = [u for u in self.urls if u not in tried]
            candidates = [u for u in fresh if self.down_until[u] <= now] or fresh
            if not candidates:
                return None
            best = min(candidates, key=lambda u: (self.inflight[u], self.served[u]))
            self.inflight[best] += 1
            return best

    def release(self, url: str, answered: bool) -> None:
        with self.lock:
            self.inflight[url] -= 1
            self.served[url] += answered

    def failed(self, url: str, why: str, retrying: bool) -> None:
        """`url` failed a request: it cools down; `retrying`: the request goes on to another server."""
        with self.lock:
            self.down_until[url], self.last_error[url] = time.monotonic() + self.cooldown_s, why
            self.failovers += retrying
