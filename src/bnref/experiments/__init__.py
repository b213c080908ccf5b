"""Experiments, above the library (which never imports them), in three rooms:

* :mod:`bnref.experiments.harness` — what every experiment shares: where results
  go and what produced them (:mod:`~.harness.record`, the one writer of results
  files), the float64 replay that keeps them honest (:mod:`~.harness.replay`),
  and the options, data, grid × seed loop and scoring (:mod:`~.harness.sweep`);
* :mod:`bnref.experiments.commands` — one module per ``python -m bnref`` command,
  declaring its grid and the one factor it changes;
* :mod:`bnref.experiments.report` — the printers the site's pages call and the
  figures, drawn from results files.

Imports go one way: library ← harness ← commands ← report (``tests/test_layout.py``).
"""
