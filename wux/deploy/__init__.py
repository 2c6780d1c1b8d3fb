"""Deployment files for a generated repository beyond one server: Kubernetes (wux.deploy.k8s)."""
