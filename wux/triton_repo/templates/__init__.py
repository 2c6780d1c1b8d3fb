"""Files copied verbatim into generated Triton repositories (they run inside Triton, not in wux)."""
