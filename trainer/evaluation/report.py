"""``report.md`` and ``metrics.json``: an Evaluation as tables for people and JSON for checks.

The tables follow the paper: hit rate per target and K (Figure 3 as numbers), Table 1 (percent
change against no-interaction at the largest K and at K = 50, with the paired bootstrap
interval of each difference), Table 2 (coverage), Table 3 (dimension
sweep), plus what the paper leaves out: a 95 % bootstrap interval next to every hit rate of
the main tables, the same restricted to items seen in training, the custom-negative ablations,
the full "because you X this, you may Y that" matrix, the gensim reference check, the rows the
loader skipped, the split, the data, the config and the timings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from contracts import artifacts
from trainer.evaluation.intervals import LEVEL, SAMPLES
from trainer.evaluation.metrics import TARGETS, HitRates
from trainer.evaluation.results import (
    BASELINE,
    SERVICE_K,
    Evaluation,
    ModelResult,
    load_json,
    paired_differences,
)
from trainer.evaluation.split import iso
from trainer.events import LoadReport

REPORT = artifacts.EVALUATION_REPORT
METRICS = artifacts.EVALUATION_METRICS
TABLE1_ALSO = 50  # Table 1 is the paper's at the largest K; also at this K when evaluated
_T = [t.label for t in TARGETS]


def write_report(evaluation: Evaluation, out: Path, plots: Sequence[str] = ()) -> list[Path]:
    """Write ``report.md`` and ``metrics.json`` into ``out`` (created); return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = out / METRICS
    metrics.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n", encoding="utf-8")
    report = out / REPORT
    report.write_text(render(evaluation, plots), encoding="utf-8")
    return [report, metrics]


BLEND_HEADER = (10, 25, 50, 100, 200)


def render(ev: Evaluation, plots: Sequence[str] = ()) -> str:
    """The whole report as Markdown."""
    k = max(ev.ks)
    parts = [f"# {ev.title}\n"]
    if ev.command:
        parts.append(f"```\n{ev.command}\n```\n")
    parts.append(_split(ev))
    if ev.load is not None:
        parts.append(_bad_rows(ev.load))
    if ev.chosen:
        parts.append(_chosen(ev))
    parts += [_hit_tables(ev, seen=False), _hit_tables(ev, seen=True)]
    for table_k in sorted({k, *([TABLE1_ALSO] if TABLE1_ALSO in ev.ks else [])}, reverse=True):
        parts.append(f"## Table 1: change in hit rate against {BASELINE}, K = {table_k}\n")
        parts.append(_table1(ev.models, table_k) + "\n")
    parts.append("## Table 2: coverage of the test day (%)\n")
    parts.append(_table2(ev.models) + "\n")
    if ev.dims:
        parts.append(_table3(ev, k))
    if ev.ablations:
        parts.append(_ablations(ev, k))
    if ev.matrix:
        parts.append(_matrix(ev))
    if ev.gensim_check is not None:
        parts.append(_gensim(ev))
    parts.append(_timings(ev))
    if plots:
        parts.append("## Plots\n\n" + "\n".join(f"![{p}]({p})" for p in plots) + "\n")
    if ev.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in ev.notes) + "\n")
    settings = json.dumps(ev.settings, indent=2)
    parts.append(f"## Evaluation settings\n\n```json\n{settings}\n```\n")
    parts.append(
        "## Training config\n\n```json\n" + ev.config.model_dump_json(indent=2) + "\n```\n"
    )
    return "\n".join(parts)


def _split(ev: Evaluation) -> str:
    s, d = ev.split, ev.data
    per = d["test_events_per_interaction"]
    vocab = d["train_pairs_per_interaction"]
    items, seen = d["test_items"], d["test_items_seen"]
    rows = [
        ("log starts (earliest event)", iso(s.log_start)),
        ("cutoff (train < cutoff ≤ test)", iso(s.cutoff)),
        ("test window ends", iso(s.test_end)),
        ("training events / sessions", f"{s.train_events:,} / {s.train_sessions:,}"),
        ("test sessions / their events", f"{s.test_sessions:,} / {s.test_session_events:,}"),
        ("test events view / favorite / cart / purchase", " / ".join(f"{per[i]:,}" for i in per)),
        ("training vocabulary: items / pairs", f"{d['train_items']:,} / {d['train_pairs']:,}"),
        ("pairs per interaction", ", ".join(f"{k} {v:,}" for k, v in vocab.items())),
        ("distinct test items (seen in training)", f"{items:,} ({seen:,}, {_share(seen, items)})"),
        (
            "distinct test pairs (item seen in training)",
            f"{d['test_distinct_pairs']:,} ({d['test_distinct_pairs_seen']:,})",
        ),
    ]
    first = next(iter(ev.models.values()), None)
    if first is not None:
        counts = ", ".join(f"{t} {n:,}" for t, n in first.hit.pairs.items())
        rows.append(("test pairs with a non-empty H, per target", counts))
    lines = ["## Split and data\n", "| | |", "| --- | --- |"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def _hit_tables(ev: Evaluation, seen: bool) -> str:
    title = "items seen in training only" if seen else "all test pairs"
    out = [f"## Hit rate (eq. 3, %), {title}\n"]
    if any(r.hit.interval for r in ev.models.values()):
        out.append(
            f"[lo–hi]: {100 * LEVEL:.0f} % percentile-bootstrap interval over the test pairs "
            f"({SAMPLES:,} resamples, the same for every model).\n"
        )
    for target in _T:
        out.append(f"**target: {target}** (pairs: " + _pairs(ev.models, target, seen) + ")\n")
        header = "| model | " + " | ".join(f"@{k}" for k in ev.ks) + f" | pairs hit@{max(ev.ks)} |"
        out += [header, "| --- |" + " ---: |" * (len(ev.ks) + 1)]
        for name, r in ev.models.items():
            scores = r.seen if seen else r.hit
            cells = [_rate(scores, target, k) for k in ev.ks]
            cells.append(f"{scores.pairs_hit[target]:,}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _pairs(models: dict[str, ModelResult], target: str, seen: bool) -> str:
    first = next(iter(models.values()))
    return f"{(first.seen if seen else first.hit).pairs[target]:,}"


def _table1(models: dict[str, ModelResult], k: int) -> str:
    """Percent change, and the difference in points with its paired bootstrap interval; bold
    where that interval excludes 0."""
    base = models.get(BASELINE)
    if base is None:
        return f"({BASELINE} was not trained)"
    paired = paired_differences(models)
    lines = ["| model | " + " | ".join(_T) + " |", "| --- |" + " ---: |" * len(_T)]
    for name, r in models.items():
        if name == BASELINE:
            continue
        cells = []
        for t in _T:
            cell = _change(r.hit.hit_rate[t][k], base.hit.hit_rate[t][k])
            if (d := paired.get(name, {}).get(t, {}).get(k)) is not None:
                lo, hi = (100 * b for b in d.ci)
                cell += f" ({100 * d.difference:+.2f} [{lo:+.2f}, {hi:+.2f}])"
                cell = f"**{cell}**" if d.significant else cell
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    note = (
        f"\nPercent change; in brackets the difference in points with its {100 * LEVEL:.0f} % "
        "paired bootstrap interval (both models on the same resamples of the test pairs); bold "
        "where that interval excludes 0."
    )
    return "\n".join(lines) + note


def _table2(models: dict[str, ModelResult]) -> str:
    lines = ["| model | items | traffic |", "| --- | ---: | ---: |"]
    for name, r in models.items():
        lines.append(f"| {name} | {_pct(r.coverage.items)} | {_pct(r.coverage.traffic)} |")
    return "\n".join(lines)


def _table3(ev: Evaluation, k: int) -> str:
    ref_dim = ev.config.sgns.dim
    ref = ev.dims.get(ref_dim) or {
        n: ev.models[n] for n in ("view-interaction", "no-interaction") if n in ev.models
    }
    dims = sorted(ev.dims)
    out = [f"## Table 3: purchase hit rate@{k} (%) by dimension (change against d = {ref_dim})\n"]
    out += [
        "| model | " + " | ".join(f"d = {d}" for d in dims) + " |",
        "| --- |" + " ---: |" * len(dims),
    ]
    for name, base in ref.items():
        cells = []
        reference = base.hit.hit_rate["purchase"][k]
        for d in dims:
            r = ev.dims[d].get(name)
            rate = None if r is None else r.hit.hit_rate["purchase"][k]
            cells.append("—" if rate is None else f"{_pct(rate)} ({_change(rate, reference)})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _ablations(ev: Evaluation, k: int) -> str:
    ks = [x for x in (50, k) if x in ev.ks] or [k]
    out = [
        "## Ablations: the custom negatives, and the blog's extensions (%, all pairs)\n",
        "Each variant retrains the pair model with the main config plus its change "
        "(`trainer/evaluation/variants.py` ABLATIONS); the `paper + …` variants start from the "
        "paper's model, the main config without the blog's extensions. Variants the log has no "
        "data for are skipped (see the notes).\n",
    ]
    heads = [f"{t} @{x}" for t in _T for x in ks] + ["coverage"]
    out += ["| variant | model | " + " | ".join(heads) + " |"]
    out.append("| --- | --- |" + " ---: |" * len(heads))
    main: dict[str, ModelResult] = {
        n: ev.models[n] for n in ("view-interaction", "cart-interaction") if n in ev.models
    }
    for variant, models in {"main config": main, **ev.ablations}.items():
        for name, r in models.items():
            cells = [_pct(r.hit.hit_rate[t][x]) for t in _T for x in ks]
            cells.append(_pct(r.coverage.items))
            out.append(f"| {variant} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _matrix(ev: Evaluation) -> str:
    k = SERVICE_K if SERVICE_K in ev.ks else max(ev.ks)
    out = [
        f"## Because you X this, you may Y that (hit rate@{k}, %)\n",
        "Rows: test pairs with interaction X, queried with the item's X vector; columns: the",
        "interaction Y whose vectors are searched (`any`: all of them, an item's best pair",
        "counts). A row with 0 pairs: no test pair of that X is followed by the target.\n",
    ]
    ys = list(next(iter(ev.matrix.values())).keys())
    for target in _T:
        out += [f"**target: {target}**\n", "| X \\ Y | pairs | " + " | ".join(ys) + " |"]
        out.append("| --- | ---: |" + " ---: |" * len(ys))
        for x, row in ev.matrix.items():
            first: HitRates = next(iter(row.values()))
            cells = [_pct(row[y].hit_rate[target][k]) for y in ys]
            out.append(f"| {x} | {first.pairs[target]:,} | " + " | ".join(cells) + " |")
        out.append("")
    best = ev.best_target(k)
    choices = ", ".join(f"{x} → {y}" for x, y in best.items())
    out.append(f"Best Y for later purchases, per seed interaction X: {choices}\n")
    return "\n".join(out)


def _gensim(ev: Evaluation) -> str:
    g = ev.gensim_check
    assert g is not None
    lo, hi = g.difference_ci
    verdict = "passes: ours is not significantly worse" if g.passes else "FAILS: ours is worse"
    return (
        f"## gensim reference\n\nPurchase hit rate@{g.k} over {g.pairs:,} test pairs, mean of "
        f"{g.runs} seed(s) on each side: ours (no-interaction) {_pct(g.ours)} %, gensim Word2Vec "
        f"{_pct(g.gensim)} %, difference {100 * g.difference:+.2f} points with {100 * LEVEL:.0f} % "
        f"paired bootstrap interval [{100 * lo:+.2f}, {100 * hi:+.2f}]; the check {verdict}.\n"
    )


def _bad_rows(load: LoadReport) -> str:
    out = [
        "## Rows the loader skipped\n",
        f"`{load.path}`: read {load.rows_read:,} rows, kept {load.rows_kept:,}; "
        f"bad {load.bad.total:,}, ignored interactions {sum(load.ignored.values()):,}, "
        f"outside since/until {load.out_of_window:,}.\n",
    ]
    if not load.bad.counts:
        return "\n".join(out)
    out += [f"| reason | rows | first {load.numbering}s |", "| --- | ---: | --- |"]
    for reason, bad in load_json(load)["bad_rows"].items():
        lines = ", ".join(str(n) for n in bad["first_lines"]) or "—"
        out.append(f"| {reason} | {bad['count']:,} | {lines} |")
    return "\n".join(out) + "\n"


def _chosen(ev: Evaluation) -> str:
    """What training chose on its validation split: the epochs' curve and the blend rule."""
    record = ev.chosen
    out = ["## Chosen on the training window's validation split (trainer/auto.py)\n"]
    if record.get("validation") is None:
        out.append(f"No validation split ({record.get('why', '')}): the defaults were used.\n")
        return "\n".join(out)
    window = record["validation"]
    out.append(
        f"Validation: the sessions starting {window['cutoff']} .. {window['test_end']} "
        f"({record['validation_pairs']:,} distinct pairs), training on the events before."
    )
    if "epochs" in record:
        epochs = record["epochs"]
        curve = ", ".join(f"{c['epochs']}: {100 * c['objective']:.2f} %" for c in epochs["curve"])
        out.append(f"\n**Epochs: {epochs['chosen']}** — {epochs['why']} (curve: {curve}).")
    if ev.blend is not None and ev.blend.thresholds:
        out += ["\n| blend threshold by K | " + " | ".join(map(str, BLEND_HEADER)) + " |",
                "| --- |" + " ---: |" * len(BLEND_HEADER)]  # fmt: skip
        for way, per_k in ev.blend.thresholds.items():
            cells = " | ".join(f"{per_k.get(k, float('nan')):.3f}" for k in BLEND_HEADER)
            out.append(f"| {way} ({ev.blend.chosen_on['pairs'].get(way, 0):,} pairs) | {cells} |")
    return "\n".join(out) + "\n"


def _timings(ev: Evaluation) -> str:
    out = ["## Timings (wall seconds)\n", "| step | seconds |", "| --- | ---: |"]
    out += [f"| {step} | {s:.1f} |" for step, s in ev.timings.items()]
    out += ["", "| model | train | candidates |", "| --- | ---: | ---: |"]
    for name, r in ev.models.items():
        train = "—" if r.train_seconds is None else f"{r.train_seconds:.1f}"
        out.append(f"| {name} | {train} | {r.candidate_seconds:.1f} |")
    return "\n".join(out) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _rate(scores: HitRates, target: str, k: int) -> str:
    """``9.49 [8.1–10.9]``: the rate and its interval, to 0.1 (0.01 under 1 %)."""
    rate = _pct(scores.hit_rate[target][k])
    bounds = scores.interval.get(target, {}).get(k)
    if bounds is None:
        return rate
    digits = 2 if bounds[1] < 0.01 else 1
    lo, hi = (f"{100 * b:.{digits}f}" for b in bounds)
    return f"{rate} [{lo}–{hi}]"


def _share(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "—"


def _change(value: float, base: float) -> str:
    return f"{100 * (value - base) / base:+.1f} %" if base > 0 else "—"
