"""Clients that denoise audio through a Triton server."""
