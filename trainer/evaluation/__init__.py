"""Offline evaluation: the paper's hit rate (eq. 3), coverage and baselines, as a report.

``python -m trainer evaluate`` runs, top to bottom (``run.py``):

split (``split.py``) → test pairs and their targets H (``metrics.py``) → train every model on
the training part (``trainer.fit.fit``, ``reference.py`` for gensim) → candidate sets
(``generators.py``, ``copurchase.py``) → hit rates and coverage (``metrics.py``) → report,
``metrics.json`` and plots (``report.py``, ``plots.py``). ``published.py`` evaluates an
already-published version; ``tuning.py`` picks hyper-parameters on a validation split.
See docs/evaluation.md.
"""
