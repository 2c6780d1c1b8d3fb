"""`wux probe`: measure a model's audio contract by feeding it lengths and perturbations.

Nothing here trusts what the model's code says. The probe finds, by running the model:
  - its layout: [batch, 1, samples] or [batch, samples] in, a tensor (or a tuple's first) out;
  - its length rule: the lengths it accepts and returns unchanged (multiple of N, minimum);
  - its alignment: the shifts under which its output shifts with its input (strided layers);
  - its receptive field: a one-sample perturbation changes the outputs it reaches. Exactly
    (strict: any change) and effectively (changes above -60 dB of the largest one);
  - causality and look-ahead: how far before the perturbation outputs change;
  - multiply-accumulates per second of audio.
A model whose every output depends on all its input (a global normalisation, a recurrent state)
has no finite strict receptive field: windows then approximate it, and the contract says so.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace

import numpy as np

from wux.contract import AudioContract, LengthRule, round_up
from wux.errors import ModelError, first_line
from wux.model.adapter import Layout, WaveformAdapter
from wux.model.info import macs_per_second

EFFECTIVE_DB = -60.0  # a change this far below the largest one counts as no change (effective extents)
# Responses at two shifts count as the same within this. A strided model shifted off its grid responds
# differently by -50 dB or more (DEMUCS's sinc resampler by about -52 dB); float64 noise sits far below,
# float32 noise near -80 dB for models that sum long stretches (a probe falls back to float32 only when the
# model cannot run in float64).
SAME_RESPONSE_DB = -80.0
PROBE_START = 1 << 15  # samples in the first receptive-field probe
PROBE_MAX = 1 << 18  # longest probe; a model that sees further has an unbounded receptive field
MAX_ALIGN = 1 << 12
DELTA = 0.05  # perturbation added to one input sample
# An item's output moved by its batch-mates more than this below its peak: the items are not independent (batched
# float32 kernels round differently by far less).
BATCH_MATES_DB = -80.0


@dataclass(frozen=True)
class Extents:
    """How far a one-sample change spreads: `past` samples after it, `future` samples before it; None: unbounded."""

    past: int | None
    future: int | None

    @property
    def span(self) -> int | None:
        return None if self.past is None or self.future is None else self.past + self.future + 1

    def widest(self, other: Extents) -> Extents:
        def top(a, b):
            return None if a is None or b is None else max(a, b)

        return Extents(top(self.past, other.past), top(self.future, other.future))


@dataclass
class ProbeReport:
    layout: Layout
    length: LengthRule
    align: int
    strict: Extents  # any change at all
    effective: Extents  # changes above EFFECTIVE_DB
    far_level_db: float | None  # the largest change near the probe's edges, dB below the peak (global terms)
    probe_samples: int  # length of the receptive-field probe
    macs_per_second: int | None
    sample_rate: int
    precision: str  # the receptive field and alignment were measured in float64 when the model runs in it
    forwards: int = 0
    seconds: float = 0.0

    @property
    def causal(self) -> bool:
        return self.strict.future == 0

    @property
    def global_dependence(self) -> bool:
        return self.strict.span is None

    def contract_fields(self) -> dict:
        """The AudioContract fields this probe measured: context and look-ahead from the exact extents where
        they are finite (what the model's own config would give), from the -60 dB ones where every output
        depends on all the input (then marked not exact)."""
        eff = self.strict if self.strict.span is not None else self.effective
        context = None if eff.span is None else max(eff.past, eff.future)
        return {"length": self.length, "align": self.align, "receptive_field": self.strict.span,
                "context": context, "context_exact": not self.global_dependence, "causal": self.causal,
                "lookahead": eff.future, "macs_per_second": self.macs_per_second}

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(causal=self.causal, global_dependence=self.global_dependence,
                 receptive_field_samples=self.strict.span, effective_receptive_field_samples=self.effective.span)
        return d


class Prober:
    """Runs one model on numpy waveforms, counting forward passes."""

    def __init__(self, model, layout: Layout | None = None):
        import torch

        self.torch = torch
        self.model = model.eval()
        self.layout = layout
        self.forwards = 0

    def raw(self, x: np.ndarray, layout: Layout):
        """The model's own output for [1, n] input in `layout` (no adapter)."""
        torch = self.torch
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.forwards += 1
        with torch.inference_mode():
            return self.model(t[:, None] if layout.input_rank == 3 else t)

    def same_length(self, n: int) -> bool:
        """Whether the model takes n samples and returns n finite samples."""
        try:
            y = as_waveform(self.raw(signal(n), self.layout), self.layout)
        except Exception:  # noqa: BLE001 - any failure means this length is not accepted
            return False
        return y.shape[-1] == n and bool(np.all(np.isfinite(y)))


def signal(n: int, seed: int = 0) -> np.ndarray:
    """Speech-like probe input: noise shaped by a slow envelope, [1, n]."""
    rng = np.random.default_rng((seed, n))
    env = 0.5 + 0.5 * np.sin(np.linspace(0, 40 * np.pi, n)) ** 2
    return (0.1 * rng.standard_normal(n) * env).astype(np.float32)[None]


def as_waveform(y, layout: Layout) -> np.ndarray:
    """A model output as [batch, samples] numpy (the adapter's rules, outside torch)."""
    if layout.tuple_output:
        y = y[0]
    y = y.detach().float().cpu().numpy()
    if y.ndim == 3:
        y = y[:, layout.output_channel]
    return y


def detect_layout(prober: Prober, declared: Layout | None = None,
                  lengths=(16384, 15360, 20736, 24000)) -> tuple[Layout, int]:
    """(layout, a length it returns unchanged): [batch, 1, samples] first, then [batch, samples]."""
    seen = []
    for n in lengths:
        for rank in (declared.input_rank,) if declared else (3, 2):
            layout = declared or Layout(input_rank=rank)
            try:
                y = prober.raw(signal(n), layout)
            except Exception as e:  # noqa: BLE001 - the model rejects this layout or length
                seen.append(f"[1{', 1' if rank == 3 else ''}, {n}] in: {type(e).__name__}: {first_line(e)}")
                continue
            if isinstance(y, (tuple, list)) and y and hasattr(y[0], "shape"):
                layout = Layout(rank, tuple_output=True, output_channel=layout.output_channel)
                y = y[0]
            if not hasattr(y, "shape"):
                raise ModelError(f"not waveform in / waveform out: the model returned a {type(y).__name__}")
            shape = tuple(y.shape)
            if len(shape) not in (2, 3) or shape[0] != 1:
                raise ModelError(f"not waveform in / waveform out: {n} samples in gave shape {shape} out "
                                 "(expected [1, samples] or [1, channels, samples])")
            if len(shape) == 3 and shape[1] != 1 and declared is None:
                raise ModelError(f"the model returns {shape[1]} channels; declare which one is the denoised speech "
                                 "with --contract '{\"output_channel\": 0}'")
            if shape[-1] == n:
                prober.layout = layout
                return layout, n
            seen.append(f"{n} samples in, {shape[-1]} out")
    raise ModelError("not waveform in / waveform out of the same length: " + "; ".join(seen[:3]))


def layout_of(model) -> Layout:
    """How the model is called ([batch, 1, samples] or [batch, samples], a tuple out or not)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return detect_layout(Prober(model))[0]


def five_smooth(limit: int) -> list[int]:
    """2^a 3^b 5^c up to `limit`, ascending: the strides and multiples audio models use."""
    out = []
    for a in range(limit.bit_length()):
        for b in range(12):
            for c in range(8):
                v = (1 << a) * 3**b * 5**c
                if v <= limit:
                    out.append(v)
    return sorted(set(out))


def find_length_rule(prober: Prober, base: int) -> LengthRule:
    """Multiple and minimum of the lengths the model returns unchanged."""
    if all(prober.same_length(base + d) for d in (1, 3, 7, 101)):
        multiple = 1
    else:
        multiple = next((m for m in five_smooth(1 << 15)
                         if prober.same_length(round_up(base, m)) and prober.same_length(round_up(base, m) + m)),
                        None)
        if multiple is None:
            raise ModelError(f"accepts {base} samples but no regular set of lengths around it (tried multiples "
                             "of 2, 3 and 5 up to 32768); declare its length rule with --contract")
    return LengthRule(multiple, minimum_length(prober, multiple, base))


def minimum_length(prober: Prober, multiple: int, base: int) -> int:
    """Smallest accepted multiple of `multiple`, assuming longer inputs keep working."""
    hi = base // multiple  # known to work
    if prober.same_length(multiple):
        return multiple
    lo, k = 1, 2
    while k < hi and not prober.same_length(k * multiple):
        lo, k = k, k * 2
    hi = min(k, hi)
    while hi - lo > 1:  # lo fails, hi works
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if prober.same_length(mid * multiple) else (mid, hi)
    return hi * multiple


def in_float64(adapter, samples: int):
    """A float64 copy of the model, or None when it does not run in float64 (a custom op, a dtype check).

    In float64 a change is a change: float32 rounding neither hides small contributions (strict extents)
    nor passes for a difference between responses (the alignment search)."""
    import copy

    import torch

    try:
        twin = copy.deepcopy(adapter).double()
        with torch.inference_mode():
            out = twin(torch.zeros(1, 1, samples, dtype=torch.float64))
        return twin if out.dtype == torch.float64 else None
    except Exception:  # noqa: BLE001 - any failure means: probe in float32
        return None


class Response:
    """Adapter outputs for one base input, and the change a perturbation makes."""

    def __init__(self, adapter, n: int, prober: Prober, dtype):
        self.adapter, self.prober, self.n, self.dtype = adapter, prober, n, dtype
        self.x = signal(n, seed=1).astype(np.float64)
        self.y = self.run(self.x)

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.prober.torch
        self.prober.forwards += 1
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.dtype)[:, None]
            return self.adapter(t).numpy()[0, 0].astype(np.float64)

    def change(self, x: np.ndarray, y: np.ndarray, p: int) -> np.ndarray:
        """How the output moves when input sample p of `x` (whose output is `y`) moves by DELTA."""
        x = x.copy()
        x[0, p] += DELTA
        return self.run(x) - y

    def extents_at(self, p: int) -> tuple[Extents, Extents, float | None]:
        """(strict, effective) extents of a perturbation of sample p (None where it reaches the probe's edge),
        and the level of the change far from p in dB below its peak (None: no change there)."""
        change = self.change(self.x, self.y, p)
        if p == self.n // 2:
            self.middle = change  # the reference response for the alignment search
        d = np.abs(change)
        if not np.any(d > 0):
            return Extents(0, 0), Extents(0, 0), None
        effective = d > d.max() * 10 ** (EFFECTIVE_DB / 20)
        edge = self.n // 16
        far = max(d[:edge].max(), d[-edge:].max())
        level = 20 * np.log10(far / d.max()) if far > 0 else None
        return self.extents(d > 0, p), self.extents(effective, p), level

    def extents(self, changed: np.ndarray, p: int) -> Extents:
        idx = np.flatnonzero(changed)
        first, last = int(idx[0]), int(idx[-1])
        margin = self.n // 16  # changes this close to an edge may have been cut off by it
        past = None if last >= self.n - 1 - margin and last > p else last - p
        future = None if first <= margin and first < p else p - first
        return Extents(max(past, 0) if past is not None else None, max(future, 0) if future is not None else None)

    def responds_the_same_shifted(self, s: int, reach: int) -> bool:
        """Whether, with the input rolled by s, a perturbation s samples later moves the output the same way.

        Comparing changes rather than outputs keeps models whose output depends on all their input (a
        level, a running sum, a recurrent state) measurable: the roll keeps the input's statistics."""
        p = self.n // 2
        shifted = np.roll(self.x, s, axis=1)
        moved = self.change(shifted, self.run(shifted), p + s)
        lo, hi = max(0, p - reach), min(self.n - s, p + reach + 1)
        diff = np.abs(moved[lo + s: hi + s] - self.middle[lo:hi]).max()
        return bool(diff <= 10 ** (SAME_RESPONSE_DB / 20) * np.abs(self.middle).max())


def check_batch_independence(adapter, prober: Prober, samples: int, dtype) -> None:
    """Refuse a model whose output for one batch item depends on the others (a norm over the whole batch):
    wux batches the windows of a file, and Triton the requests of different users, together."""
    torch = prober.torch
    quiet, loud = signal(samples, seed=2), 10 * signal(samples, seed=3)
    batch = torch.from_numpy(np.concatenate([quiet, loud]).astype(np.float64)).to(dtype)[:, None]
    try:
        with torch.inference_mode():
            beside = adapter(batch).numpy()[0, 0].astype(np.float64)
            alone, again = (adapter(batch[:1]).numpy()[0, 0].astype(np.float64) for _ in range(2))
    except Exception:  # noqa: BLE001 - a model that takes one item at a time has no batch-mates to hear
        return
    finally:
        prober.forwards += 3
    peak = np.max(np.abs(alone))
    audible = peak * 10 ** (BATCH_MATES_DB / 20)
    if np.max(np.abs(again - alone)) > audible:
        return  # it does not repeat itself (noise at inference): batch-mates cannot be told from that
    moved = np.max(np.abs(beside - alone))
    if moved > audible:
        raise ModelError(
            f"its output for one batch item depends on the other items (a quiet input's output moved by "
            f"{20 * np.log10(moved / (peak + 1e-30)):.0f} dB of its peak beside a loud one): wux batches windows, "
            "and Triton batches different users' requests; normalise over each item (dim=-1), not the batch")


def find_extents(adapter, prober: Prober, dtype) -> tuple[Response, Extents, Extents, float | None]:
    """Grow the probe until the effective extents fit inside it (or PROBE_MAX)."""
    n = PROBE_START
    while True:
        response = Response(adapter, n, prober, dtype)
        strict, effective, level = response.extents_at(n // 2)
        if effective.span is not None or n >= PROBE_MAX:
            return response, strict, effective, level
        n *= 2


def find_alignment(response: Response, effective: Extents) -> int:
    """Smallest shift under which the model responds the same (powers of two first, then 3- and 5-smooth)."""
    reach = (effective.span or response.n // 4) + 16
    candidates = [1] + [1 << k for k in range(1, MAX_ALIGN.bit_length())]
    candidates += [m for m in five_smooth(MAX_ALIGN) if m not in candidates]
    for s in candidates:
        if response.n // 2 + s + 16 > response.n:
            break
        if response.responds_the_same_shifted(s, reach):
            return s
    raise ModelError(f"it does not respond the same to shifts of its input by up to {MAX_ALIGN} samples (in "
                     f"{response.n}-sample probes); declare its alignment with --contract '{{\"align\": N}}'")


def probe_model(model, sample_rate: int, layout: Layout | None = None, length: LengthRule | None = None,
                align: int | None = None) -> ProbeReport:
    """Measure `model` (a user's nn.Module in its own layout); given facts are used instead of measured."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a model fed lengths it may refuse warns about them; refusal is the finding
        return measure(model, sample_rate, layout, length, align, t0)


def measure(model, sample_rate: int, layout: Layout | None, length: LengthRule | None, align: int | None,
            t0: float) -> ProbeReport:
    prober = Prober(model, layout)
    layout, base = detect_layout(prober, layout)
    length = length or find_length_rule(prober, base)
    adapter = WaveformAdapter(model, layout, length).eval()
    precise = in_float64(adapter, length.valid_length(base))
    dtype = prober.torch.float32 if precise is None else prober.torch.float64
    check_batch_independence(precise or adapter, prober, length.valid_length(base), dtype)
    response, strict, effective, level = find_extents(precise or adapter, prober, dtype)
    align = align or find_alignment(response, effective)
    mid = response.n // 2
    for phase in sorted({1, align // 2, align - 1} - {0}):
        s, e, far = response.extents_at(mid + phase)
        strict, effective = strict.widest(s), effective.widest(e)
        level = far if level is None else level if far is None else max(level, far)
    macs = macs_per_second(adapter, sample_rate, length.multiple)
    return ProbeReport(layout, length, align, strict, effective, level, response.n, macs, sample_rate,
                       "float32" if precise is None else "float64", prober.forwards, time.perf_counter() - t0)


def contract_from_probe(report: ProbeReport, declared: dict) -> AudioContract:
    """Measured facts, overridden by what the user declared. An unbounded receptive field gets an
    eighth of the serving window as context: a fair trade, marked as not exact."""
    measured = report.contract_fields()
    unbounded = measured["context"] is None
    measured["context"] = measured["context"] or 0
    contract = AudioContract(**{"sample_rate": report.sample_rate, **measured, **declared})
    if unbounded and "context" not in declared:
        contract = replace(contract, context=round_up(contract.chunk // 8, contract.align))
    return contract
