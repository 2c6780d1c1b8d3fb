"""Export to TorchScript, ONNX and TensorRT (one module per format)."""
