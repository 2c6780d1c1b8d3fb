"""wux gateway: an audio REST service (FastAPI) in front of an export or of Triton replicas."""
