"""Load generation and performance reports."""
