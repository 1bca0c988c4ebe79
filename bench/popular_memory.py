"""What a worker holds of its own for the popular lists, against how many lists there are
(issue 16, point 3: artifact schema 3).

    python bench/popular_memory.py                          # 2k, 20k, 100k categories × 100
    python bench/popular_memory.py --categories 2000,20000 --json-up-to 20000

For each number of categories, popular lists of ``--top`` items each (plus 500 overall) are
written once into ``--out`` as a schema-3 ``popular/`` folder and, up to ``--json-up-to``
categories, as the ``popular.json`` of schemas 1 and 2. A fresh process then opens one of them
(``Popular.open``: memory-mapped and checked; ``Popular.from_json``: parsed and converted, what
a worker does for an older version), reads the first 10 items of 1,000 random categories' lists,
and reports the time to open and what its heap grew by (``Anonymous`` in
``/proc/self/smaps_rollup``: what no other process can share; the mapped files are page cache,
shared by the workers of a host). Prints a table; writes ``--report`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from contracts.popular import Popular

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from contracts.popular import Popular

def anonymous():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024

mode, path = sys.argv[1], Path(sys.argv[2])
before = anonymous()
started = time.perf_counter()
popular = Popular.open(path) if mode == "arrays" else Popular.from_json(path)
seconds = time.perf_counter() - started
rows = np.random.default_rng(0).integers(0, len(popular.categories), 1000)
for category in popular.categories.take(rows):
    popular.of_category(category).head(10)
print(json.dumps({"open_seconds": round(seconds, 3), "heap_mb": round(anonymous() - before, 1)}))
"""


def write_lists(folder: Path, n_categories: int, top: int, with_json: bool) -> None:
    """``n_categories`` lists of ``top`` distinct items each, and 500 overall, once."""
    if (folder / "done").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    n = n_categories * top
    rng = np.random.default_rng(1)
    item_ids = np.array([str(10_000_000 + i) for i in range(n)], dtype=object)
    scores = np.round(np.sort(rng.exponential(10.0, n))[::-1], 3)
    offsets = np.arange(0, n + 1, top, dtype=np.int64)
    categories = [f"c{c:06d}" for c in range(n_categories)]
    entries = rng.permutation(n)
    popular = Popular.from_codes(
        item_ids, entries[:500], scores[:500], categories, offsets, entries, scores
    )
    popular.write(folder / "popular")
    if with_json:
        (folder / "popular.json").write_text(json.dumps(popular.to_json()), encoding="utf-8")
    (folder / "done").touch()


def probe(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--categories", default="2000,20000,100000")
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--json-up-to", type=int, default=20000, help="larger: arrays only")
    parser.add_argument("--out", type=Path, default=Path("/tmp/popular-memory"))
    parser.add_argument("--report", type=Path, default=ROOT / "bench/results/popular_memory.json")
    args = parser.parse_args()
    rows = []
    for n in (int(c) for c in args.categories.split(",")):
        folder = args.out / f"categories-{n}"
        with_json = n <= args.json_up_to
        write_lists(folder, n, args.top, with_json)
        rows.append({"categories": n, "format": "arrays", **probe("arrays", folder / "popular")})
        if with_json:
            rows.append(
                {"categories": n, "format": "json", **probe("json", folder / "popular.json")}
            )
    print(
        "| categories | entries | format | open s | heap MB |\n| ---: | ---: | --- | ---: | ---: |"
    )
    for row in rows:
        entries = row["categories"] * args.top
        print(
            f"| {row['categories']:,} | {entries:,} | {row['format']} | "
            f"{row['open_seconds']} | {row['heap_mb']} |"
        )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"top": args.top, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
