"""A real S3-API server for the object-storage tests: ``moto_server`` (the dev extra's
``moto[server]``) in a child process on a free port, one per pytest session (xdist worker).

The ``s3_server`` fixture starts it and points boto3 at it through the standard variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, …) for the session, so the code under test finds
it exactly as it would find a real store; ``s3_url`` gives each test an empty bucket of its own.
Test modules import both (``from object_store import s3_server, s3_url``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.redis import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_buckets = itertools.count()


class MotoServer:
    """``moto_server`` on 127.0.0.1:port; its log in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        binary = Path(sys.executable).parent / "moto_server"
        if not binary.is_file():
            pytest.fail(f"{binary} not found: install the dev extra (moto[server])")
        with open(self.folder / "moto.log", "wb") as log:
            self.proc = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("moto_server did not start: " + (self.folder / "moto.log").read_text())
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def new_bucket(self) -> str:
        name = f"ic-test-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """This session's moto_server, with the AWS_* variables pointing at it (restored after)."""
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    variables = CREDENTIALS | {"AWS_ENDPOINT_URL": server.endpoint}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def s3_url(s3_server: MotoServer) -> str:
    """``s3://<a new empty bucket>/models``."""
    return f"s3://{s3_server.new_bucket()}/models"
