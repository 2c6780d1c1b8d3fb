"""Triton Inference Server model-repository generation."""
