"""The contracts tests' fixtures: a real S3-API server for the object-store tests
(tests/object_store.py)."""

from __future__ import annotations

from object_store import s3_server, s3_url  # noqa: F401 (fixtures)
