
from wux.clients.balance import Balancer


def test_fewest_in_flight_then_fewest_answered():
    b = Balancer(["a", "b", "c"])
    assert [b.acquire(set()) for _ in range(3)] == ["a", "b", "c"]  # each busy once
    b.release("b", answered=True)
    assert b.acquire(set()) == "b"  # the only idle one
    b.release("a", answered=True)
    b.release("c", answered=False)
    assert b.acquire(set()) == "c"  # a and c both idle now; a answered one, c none
    assert b.served == {"a": 1, "b": 1, "c": 0}


def test_a_failed_server_cools_down_but_is_tried_before_giving_up():
    b = Balancer(["a", "b"], cooldown_s=60)
    url = b.acquire(set())
    b.failed(url, "connection refused", retrying=True)
    b.release(url, answered=False)
    assert b.failovers == 1 and b.last_error == {"a": "connection refused"}
    assert [b.acquire(set()) for _ in range(3)] == ["b", "b", "b"]  # a cools down while b takes everything
    b.failed("b", "reset", retrying=False)
    assert b.failovers == 1  # not sent on: not a failover
    assert b.acquire({"b"}) == "a"  # every untried server is cooling down: try one anyway
    assert b.acquire({"a", "b"}) is None


def test_cooldown_ends(monkeypatch):
    import wux.clients.balance

    now = [100.0]
    monkeypatch.setattr(wux.clients.balance.time, "monotonic", lambda: now[0])  # a clock only the test moves
    b = Balancer(["a", "b"], cooldown_s=0.05)
    b.failed("a", "x", retrying=False)
    assert b.acquire(set()) == "b"
    b.release("b", answered=True)
    now[0] += 0.04
    assert b.acquire(set()) == "b"  # a still cooling down
    b.release("b", answered=True)
    now[0] += 0.02
    assert b.acquire(set()) == "a"  # back in turn: idle, and fewer answered than b
