"""Runnable examples: each module defines `app`, served with `uvicorn examples.NAME:app`."""
