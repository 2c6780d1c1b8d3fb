"""Runners: one per runtime (eager PyTorch, TorchScript, onnxruntime, TensorRT, a Triton server), one interface."""
