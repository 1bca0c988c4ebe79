"""``python -m service --host H --port P --workers N``: run the API under uvicorn.

One worker runs uvicorn's server in this process. Several run under uvicorn's supervisor, each
on its own SO_REUSEPORT socket (service/workers.py) so that connections spread over them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from importlib import metadata

import uvicorn
from pydantic import ValidationError

from service import tracing
from service.protocol import GuardedHttpTools
from service.settings import Settings
from service.workers import ReusePortMultiprocess


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve candidates. Settings come from the environment (docs/operations.md).",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--host", help="interface to listen on (default: HOST)")
    parser.add_argument("--port", type=int, help="TCP port (default: PORT)")
    parser.add_argument("--workers", type=int, help="worker processes (default: WORKERS)")
    args = parser.parse_args()
    try:
        settings = Settings()
    except ValidationError as exc:  # one line per bad variable, named as it is set
        for error in exc.errors(include_input=False):
            name = "_".join(str(part) for part in error["loc"]).upper()
            print(f"invalid setting {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    missing = tracing.missing_extra(settings)
    if missing is not None:
        print(missing, file=sys.stderr)
        raise SystemExit(2)
    args.host = args.host or settings.host
    args.port = args.port or settings.port
    args.workers = args.workers or settings.workers
    if args.workers > 1:
        # shared by the workers: metrics of all of them, and reload turns (coordination.py)
        shared = {"PROMETHEUS_MULTIPROC_DIR": "ic-metrics-", "RUNTIME_DIR": "ic-runtime-"}
        for variable, prefix in shared.items():
            if not os.environ.get(variable):
                os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=GuardedHttpTools,
        proxy_headers=False,  # nothing reads the client address
        loop="auto",  # uvloop when installed (pyproject.toml installs it off Windows)
        log_config=None,
        access_log=False,
        timeout_worker_healthcheck=settings.worker_healthcheck_seconds,
        backlog=settings.backlog,
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    if args.workers == 1:
        uvicorn.Server(config).run()
        return
    ReusePortMultiprocess(config, args.workers).run()


def settings_help() -> str:
    """Every environment variable with its default, for ``--help``."""
    lines = ["settings (environment variables, default in brackets):"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = (
            "unset"
            if default is None
            else (",".join(map(str, default)) if isinstance(default, tuple) else default)
        )
        lines.append(f"  {name.upper():34s} [{shown}]")
    return "\n".join(lines)


def package_version() -> str:
    try:
        return metadata.version("interaction-candidates")
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    main()
