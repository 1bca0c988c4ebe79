"""``python -m trainer versions list|verify|rollback``: the published versions, for operators.

``--artifacts`` is a folder or ``s3://bucket/prefix`` (contracts/storage.py); on S3, ``verify``
streams every object through sha256 without writing it to disk.

* ``list``: every version, oldest first — id, when it was made, pairs, size on disk, and which
  one ``CURRENT`` names (``*``). ``--json`` for scripts.
* ``verify [VERSION…]``: hash every file of each version (default: the current one) against
  its manifest; exit 1 naming the first bad file of each version that fails.
* ``rollback VERSION``: point ``CURRENT`` at an older (or any) version, atomically, once it
  verifies; the services follow within their reload interval. The next training run moves
  ``CURRENT`` again (suspend the schedule while a rollback must hold: docs/operations.md).
"""

from __future__ import annotations

import json
import sys

import click

from contracts import artifacts, storage


def parse_artifacts(ctx: click.Context, param: click.Parameter, value: object) -> storage.Location:
    """``--artifacts``: a folder or ``s3://bucket/prefix``; anything else (``gs://…``, ``s3:/x``,
    ``s3://`` without a bucket) stops the command with one line, before any work is done."""
    try:
        return storage.parse_location(str(value))
    except storage.LocationError as exc:
        raise click.ClickException(f"--artifacts: {exc}") from None


ARTIFACTS = click.option(
    "--artifacts",
    "root",
    callback=parse_artifacts,
    default="artifacts",
    show_default=True,
    help="The artifact folder or s3://bucket/prefix (the trainer's --artifacts, the service's "
    "ARTIFACTS_DIR).",
)


def _store(root: storage.Location) -> storage.Store:
    try:
        return storage.open_store(root)
    except storage.StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def versions() -> None:
    """List, verify and roll back published versions."""


@versions.command(name="list")
@ARTIFACTS
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
def list_command(root: storage.Location, as_json: bool) -> None:
    """Every published version, oldest first; * marks the one CURRENT names."""
    store = _store(root)
    try:
        current = store.read_current()
        published = store.list_versions()
    except artifacts.ArtifactError as exc:
        raise click.ClickException(str(exc)) from None
    for version in published:
        row = _describe(store, version, current)
        if as_json:
            click.echo(json.dumps(row))
            continue
        mark = "*" if row["current"] else " "
        made = row.get("created_at", "?")
        pairs, size = row.get("pairs", "?"), _size(row.get("bytes"))
        problem = f"  ({row['problem']})" if "problem" in row else ""
        click.echo(f"{mark} {version}  {made}  pairs {pairs}  {size}{problem}")


@versions.command()
@ARTIFACTS
@click.argument("names", nargs=-1, metavar="[VERSION]...")
def verify(root: storage.Location, names: tuple[str, ...]) -> None:
    """Hash every file of each VERSION (default: the current one) against its manifest."""
    store = _store(root)
    try:
        current = store.read_current()
    except artifacts.ArtifactError as exc:
        raise click.ClickException(str(exc)) from None
    chosen = list(names) or ([current] if current else [])
    if not chosen:
        raise click.ClickException(f"no CURRENT in {root}: name the versions to verify")
    failed = 0
    for version in chosen:
        try:
            manifest = store.verify(version)
        except (artifacts.ArtifactError, OSError, ValueError) as exc:
            failed += 1
            click.echo(f"{version}: FAILED: {exc}")
            continue
        click.echo(f"{version}: ok ({len(manifest.files)} files)")
    if failed:
        sys.exit(1)


@versions.command()
@ARTIFACTS
@click.argument("version")
def rollback(root: storage.Location, version: str) -> None:
    """Point CURRENT at VERSION once every file of it verifies."""
    store = _store(root)
    try:
        before = store.read_current()
    except artifacts.ArtifactError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store.set_current(version)
    except (artifacts.ArtifactError, OSError, ValueError) as exc:
        raise click.ClickException(f"CURRENT stays {before}: {version} is refused: {exc}") from exc
    click.echo(f"CURRENT: {before} -> {version}")


def _describe(store: storage.Store, version: str, current: str | None) -> dict[str, object]:
    row: dict[str, object] = {"version": version, "current": version == current}
    try:
        manifest = store.load_manifest(version)
    except (artifacts.ArtifactError, OSError, ValueError) as exc:
        return row | {"problem": str(exc)}
    return row | {
        "created_at": manifest.created_at.isoformat(timespec="seconds"),
        "pairs": manifest.data.pairs,
        "bytes": sum(entry.bytes for entry in manifest.files.values()),
    }


def _size(count: object) -> str:
    if not isinstance(count, int):
        return "?"
    size = float(count)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
