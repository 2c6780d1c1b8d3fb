"""Facts about an ONNX graph that the exporters and the graph passes read alike."""

from __future__ import annotations


def default_opset(proto) -> int | None:
    """The version of the default (ai.onnx) operator set the model imports; None if it imports none."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
