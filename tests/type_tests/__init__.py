"""Inference pins: modules checked by mypy --strict and pyright strict, never run."""
