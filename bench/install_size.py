"""What each image target installs on top of its base image: the serving install against the
full (serving + trainer) one, measured by installing both the way the Dockerfile does.

    python bench/install_size.py [--out bench/results/install_size.json]

Builds the project's wheels and every dependency's once (``pip wheel '.[trainer,s3,tracing]'``,
as the Dockerfile's build stage does), then installs ``interaction-candidates[s3,tracing]`` (the
``service`` target) and ``…[trainer,s3,tracing]`` (the ``full`` target) from those wheels alone
into two empty folders, bytecode compiled as in the image, and prints each folder's size and
its largest distributions. Both targets also carry the base image (python:3.11-slim, ~125 MB,
not measured here: no engine pulls it on this machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "service": "interaction-candidates[s3,tracing]",
    "full": "interaction-candidates[trainer,s3,tracing]",
}


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def distributions(folder: Path) -> dict[str, int]:
    """Bytes per installed distribution (its RECORD's files; leftovers under their folder)."""
    sizes: dict[str, int] = {}
    counted: set[Path] = set()
    for record in folder.glob("*.dist-info/RECORD"):
        name = record.parent.name.split("-")[0]
        files = {folder / line.split(",")[0] for line in record.read_text().splitlines() if line}
        files = {f.resolve() for f in files if f.is_file()}
        sizes[name] = sum(f.stat().st_size for f in files - counted)
        counted |= files
    rest = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) - sum(sizes.values())
    sizes["(compiled bytecode and other files)"] = max(rest, 0)
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/install_size.json")
    args = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / "wheels"
        print("building wheels (the Dockerfile's build stage)…", flush=True)
        pip("wheel", "--wheel-dir", str(wheels), f"{ROOT}[trainer,s3,tracing]")
        for target, requirement in TARGETS.items():
            folder = Path(tmp) / target
            pip("install", "--no-index", "--find-links", str(wheels), "--target", str(folder),
                requirement)  # fmt: skip
            per_dist = distributions(folder)
            results[target] = {"bytes": size(folder), "largest": dict(list(per_dist.items())[:8])}
    for target, result in results.items():
        print(f"\n{target}: {result['bytes'] / 1e6:,.0f} MB installed")
        for name, n in result["largest"].items():  # type: ignore[attr-defined]
            print(f"  {name:<40} {n / 1e6:8.1f} MB")
    service, full = results["service"]["bytes"], results["full"]["bytes"]
    print(f"\nservice / full: {service / full:.2f} ({(full - service) / 1e6:,.0f} MB less)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
