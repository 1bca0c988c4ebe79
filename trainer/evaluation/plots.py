"""The report's figures, drawn with matplotlib's file-only backend (no display needed).

* ``hit_rate_vs_k.png`` — hit rate against K, one panel per target, one line per model: the
  paper's Figure 3 (which shows the purchase panel only).
* ``coverage.png`` — Table 2 as bars: share of test items and of test traffic answered.
* ``embeddings_2d.png`` — a sample of item-interaction input vectors projected on their first
  two principal components, coloured by interaction: the space of the paper's Figure 2.
  PCA, not t-SNE: it is deterministic, needs no extra dependency, and distances along the
  axes keep their meaning.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from contracts import artifacts
from contracts.interactions import Interaction
from trainer.evaluation.metrics import TARGETS
from trainer.evaluation.results import EmbeddingSample, Evaluation

HIT_RATE = artifacts.HIT_RATE_PLOT
COVERAGE = artifacts.COVERAGE_PLOT
EMBEDDINGS = artifacts.EMBEDDINGS_PLOT
_COLOURS = {
    "view": "tab:blue",
    "favorite": "tab:orange",
    "cart": "tab:green",
    "purchase": "tab:red",
}


def write_plots(ev: Evaluation, out: Path) -> list[str]:
    """Draw every figure into ``out``; return their file names (relative to ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    names = [_hit_rate(ev, out / HIT_RATE), _coverage(ev, out / COVERAGE)]
    if ev.sample is not None and len(ev.sample.vectors) >= 2:
        names.append(_embeddings(ev.sample, out / EMBEDDINGS))
    return names


def _hit_rate(ev: Evaluation, path: Path) -> str:
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(5 * len(TARGETS), 4), sharex=True)
    pairs = next(iter(ev.models.values())).hit.pairs if ev.models else {}
    for ax, target in zip(np.atleast_1d(axes), TARGETS, strict=True):
        for name, result in ev.models.items():
            rates = result.hit.hit_rate[target.label]
            ax.plot(ev.ks, [100 * rates[k] for k in ev.ks], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xticks(ev.ks, [str(k) for k in ev.ks])
        ax.set_xlabel("K (candidates)")
        ax.set_ylabel("hit rate (%)")
        ax.set_title(f"target: {target.label} ({pairs.get(target.label, 0):,} pairs)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(ev.title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _coverage(ev: Evaluation, path: Path) -> str:
    names = list(ev.models)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    items = [100 * ev.models[n].coverage.items for n in names]
    traffic = [100 * ev.models[n].coverage.traffic for n in names]
    ax.bar(x - 0.2, items, width=0.4, label="distinct test items")
    ax.bar(x + 0.2, traffic, width=0.4, label="test traffic (events)")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("covered (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Coverage: a non-empty candidate set (Table 2)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def project(vectors: np.ndarray) -> np.ndarray:
    """(n, 2): unit-length rows projected on their first two principal components."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    centred = unit - unit.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return np.asarray(centred @ vt[:2].T)


def _embeddings(sample: EmbeddingSample, path: Path) -> str:
    xy = project(sample.vectors.astype(np.float64))
    fig, ax = plt.subplots(figsize=(6, 5))
    for interaction in Interaction:
        rows = sample.interaction == int(interaction)
        if rows.any():
            label = f"{interaction.label} ({int(rows.sum())})"
            colour = _COLOURS[interaction.label]
            ax.scatter(xy[rows, 0], xy[rows, 1], s=6, alpha=0.5, c=colour, label=label)
    ax.set_title("Item-interaction input vectors, first two principal components")
    ax.legend(markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
