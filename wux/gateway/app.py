"""The gateway's HTTP API: POST /v1/denoise (WAV/FLAC, raw body or multipart field `audio`) returns WAV of the
same length, rate, channels and sample format; /healthz, /readyz, /metrics, /v1/info, the page at /, OpenAPI at /docs.

Bad input is a 4xx with {"error": "..."}: 413 too large or too long, 415 not audio, 422 audio that cannot be
denoised as sent (empty, truncated, NaN), 429 over the concurrency limit, 503 when the backend cannot answer
(both with Retry-After). Nothing the client sends can cause a 500."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from wux import __version__
from wux.data.audio import decode_audio, encode_audio, output_subtype, samples_beyond_full_scale
from wux.data.resample import processed_channels
from wux.errors import AudioError, UnreadableAudio, WuxError
from wux.gateway.backends import Backend, open_backend
from wux.gateway.config import GatewayConfig
from wux.gateway.metrics import GatewayMetrics

UPLOAD_FIELD = "audio"  # the multipart field: curl -F audio=@noisy.wav
RETRY_AFTER_S = 1
PAGE = "page.html"


class GatewayError(Exception):
    """An answer other than 200: its status, the one-line reason, extra headers."""

    def __init__(self, status: int, message: str, retry_after: bool = False):
        super().__init__(message)
        self.status, self.message = status, message
        self.headers = {"Retry-After": str(RETRY_AFTER_S)} if retry_after else {}


class Gateway:
    """One worker's state: the backend, its limits and metrics, the requests in progress."""

    def __init__(self, cfg: GatewayConfig, backend: Backend | None = None):
        self.cfg, self.backend, self.in_progress = cfg, backend, 0
        self.metrics = GatewayMetrics.create()

    async def denoise(self, body: bytes, label: str) -> tuple[bytes, dict]:
        import anyio

        samples, rate, sent_format = await anyio.to_thread.run_sync(decode_upload, body, label)
        seconds = samples.shape[0] / rate
        if seconds > self.cfg.max_seconds:
            raise GatewayError(413, f"{label}: audio is {seconds:.1f} s long; this gateway takes up to "
                                    f"{self.cfg.max_seconds:g} s")
        t0 = time.perf_counter()
        try:
            out = await anyio.to_thread.run_sync(processed_channels, self.backend.denoise, samples, rate,
                                                 self.backend.sample_rate)
        except WuxError as e:  # the backend (Triton replicas) could not answer: the client may try again
            raise GatewayError(503, f"the denoising backend is unavailable: {e}", retry_after=True) from None
        processing_ms = 1e3 * (time.perf_counter() - t0)
        subtype = output_subtype(sent_format, "WAV")
        wav = await anyio.to_thread.run_sync(encode_audio, out, rate, "WAV", subtype)
        self.metrics.audio.inc(seconds)
        return wav, {"X-Processing-Ms": f"{processing_ms:.1f}", "X-Audio-Seconds": f"{seconds:.3f}",
                     "X-Sample-Rate": str(rate), "X-Sample-Format": subtype,
                     "X-Clipped-Samples": str(samples_beyond_full_scale(out, subtype))}


def decode_upload(body: bytes, label: str) -> tuple[np.ndarray, int, str]:
    if not body:
        raise GatewayError(422, f"{label}: the upload is empty")
    try:
        return decode_audio(body, label)
    except UnreadableAudio as e:
        raise GatewayError(415, f"{e}; send WAV or FLAC") from None
    except AudioError as e:
        raise GatewayError(422, str(e)) from None


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(413, f"the upload is {int(declared)} bytes; this gateway takes up to {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"the upload is over {limit} bytes, the most this gateway takes")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_of(request: Request, body: bytes) -> tuple[bytes, str]:
    """The audio bytes and a name for messages: the multipart field `audio`, or the whole raw body."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body, "request body"

    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=2, max_fields=16)
    except Exception as e:  # noqa: BLE001 - a malformed multipart body is the client's
        raise GatewayError(400, f"malformed multipart body: {e}") from None
    upload = form.get(UPLOAD_FIELD)
    if upload is None or isinstance(upload, str):
        raise GatewayError(422, f"the multipart upload has no file field named {UPLOAD_FIELD!r} "
                                f"(curl -F {UPLOAD_FIELD}=@noisy.wav)")
    return await upload.read(), upload.filename or UPLOAD_FIELD


def quiet_multipart_parser() -> None:
    """python-multipart logs each malformed body it meets as a warning; the client gets it as a 400 already, and
    a server log line per bad request is noise (or a way to flood the log)."""
    for name in ("python_multipart", "multipart"):  # the package's name since 0.0.13, and before
        logging.getLogger(name).setLevel(logging.ERROR)


def create_app(cfg: GatewayConfig, backend: Backend | None = None) -> FastAPI:
    gw = Gateway(cfg, backend)
    quiet_multipart_parser()

    @asynccontextmanager
    async def lifespan(app):
        import anyio

        if gw.backend is None:
            gw.backend = await anyio.to_thread.run_sync(open_backend, cfg)
        try:
            yield
        finally:
            gw.backend.close()

    app = FastAPI(title="wux gateway", version=__version__, lifespan=lifespan,
                  description="Speech denoising: upload WAV or FLAC, get the denoised WAV back.")
    app.state.gateway = gw

    def error(status: int, message: str, headers: dict | None = None):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)

    @app.exception_handler(GatewayError)
    async def gateway_error(request, e: GatewayError):
        return error(e.status, e.message, e.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        return error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def defect(request, e: Exception):
        return error(500, f"internal error ({type(e).__name__}); the gateway's log has the details")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, e: RequestValidationError):
        return error(422, "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))

    @app.post("/v1/denoise", response_class=Response, summary="Denoise a WAV or FLAC file",
              responses={200: {"content": {"audio/wav": {}},
                               "description": "The denoised audio: WAV in the upload's sample format"}})
    async def denoise(request: Request):
        """Send the file as the raw body (`--data-binary @noisy.wav`) or as the multipart field `audio`
        (`-F audio=@noisy.wav`). Any sample rate and channel count; the answer has the same."""
        if gw.in_progress >= cfg.max_concurrent:
            gw.metrics.requests.labels("429").inc()
            raise GatewayError(429, f"{gw.in_progress} requests are in progress, the most this worker takes; "
                                    "try again shortly", retry_after=True)
        gw.in_progress += 1
        gw.metrics.in_progress.inc()
        t0 = time.perf_counter()
        status = 200
        try:
            body = await read_limited(request, cfg.max_body_bytes)
            data, label = await upload_of(request, body)
            wav, headers = await gw.denoise(data, label)
            gw.metrics.latency.observe(time.perf_counter() - t0)
            return Response(wav, media_type="audio/wav", headers=headers)
        except GatewayError as e:
            status = e.status
            raise
        except Exception:
            status = 500  # a defect of the gateway, never the client's input: counted, then answered as JSON
            raise
        finally:
            gw.in_progress -= 1
            gw.metrics.in_progress.dec()
            gw.metrics.requests.labels(str(status)).inc()

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the backend can denoise")
    async def readyz():
        import anyio

        ready = gw.backend is not None and await anyio.to_thread.run_sync(gw.backend.ready)
        if not ready:
            raise GatewayError(503, "the denoising backend is not ready", retry_after=True)
        return {"status": "ready", "backend": gw.backend.name}

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics():
        data, content_type = gw.metrics.exposition()
        return Response(data, media_type=content_type)

    @app.get("/v1/info", summary="The backend and the limits")
    async def info():
        return {"backend": gw.backend.name if gw.backend else None, "version": __version__,
                "model_sample_rate": gw.backend.sample_rate if gw.backend else None,
                "max_body_bytes": cfg.max_body_bytes, "max_seconds": cfg.max_seconds,
                "max_concurrent": cfg.max_concurrent}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return resources.files("wux.gateway").joinpath(PAGE).read_text(encoding="utf-8")

    return app


def app_from_env():
    """uvicorn's factory in each worker process: the configuration `wux gateway` put in the environment."""
    return create_app(GatewayConfig.from_env())
