"""Printers for the site's pages, in one place: every number a page shows comes from a results
file, through a function here.

Each takes the path of a results file explicitly (the committed ones are under ``src/bnref/results/``
of a checkout, :func:`bnref.experiments.harness.record.results_dir`) and prints what the page shows;
the test suite runs the pages and compares their output. One module per family of files:

* :mod:`.reproduce` — the reproduction page (and the chapter's code page): the
  reproduction and throughput files;
* :mod:`.claims` — the claims page: the controlled experiments, inference cost, the
  noise arms; :mod:`.learning_rate` — its learning-rate sweep (also the exercises page);
* :mod:`.budgets` — the claims page's runs whose budget fits the claim: accuracy at
  convergence, and regularizers where the network overfits;
* :mod:`.small_batch` — the small-batch page;
* :mod:`.moving_statistics` — the moving-statistics page (its explorer draws the same file);
* :mod:`.performance` — the performance page: the bench, inference and validation files,
  Lighthouse;
* :mod:`.sync_bn` — the sync-BN page: training across processes (DDP), and two
  processes against one, layer by layer.
"""

from __future__ import annotations

from bnref.experiments.report.pages.claims import (
    ablation_table, ablation_affine, init_scale_table, placement_table, dropout_table, dropout_variance_shift,
    inference_table, ghost_bn_table,
)
from bnref.experiments.report.pages.budgets import (
    convergence_table, convergence_speed, regularization_table,
)
from bnref.experiments.report.pages.learning_rate import (
    lr_range_table, lr_sweep_summary, lr_sweep_table,
)
from bnref.experiments.report.pages.moving_statistics import (
    moving_statistics_setup, moving_statistics_accuracy, moving_statistics_lag,
    moving_statistics_noise, moving_statistics_run,
)
from bnref.experiments.report.pages.performance import (
    bench_table, target_lines, validation_table, lighthouse_table, measured_on, allocator_table,
    TARGETS, GPU_TARGETS, GPU_BANDWIDTH_SHARE,
)
from bnref.experiments.report.pages.reproduce import (
    note_lines, summary, summary_table, throughput_table, reached_note_accuracy, describe, gamma_beta, model_runs,
)
from bnref.experiments.report.pages.small_batch import (
    small_batch_table, small_batch_recalibration, small_batch_batch_of_one,
)
from bnref.experiments.report.pages.sync_bn import ddp_table, sync_check_table

__all__ = [
    "ablation_table",
    "ablation_affine",
    "lr_sweep_table",
    "lr_sweep_summary",
    "lr_range_table",
    "init_scale_table",
    "placement_table",
    "convergence_table",
    "convergence_speed",
    "regularization_table",
    "dropout_table",
    "dropout_variance_shift",
    "inference_table",
    "ghost_bn_table",
    "bench_table",
    "target_lines",
    "validation_table",
    "lighthouse_table",
    "measured_on",
    "allocator_table",
    "TARGETS",
    "GPU_TARGETS",
    "GPU_BANDWIDTH_SHARE",
    "note_lines",
    "summary",
    "summary_table",
    "throughput_table",
    "reached_note_accuracy",
    "describe",
    "gamma_beta",
    "model_runs",
    "small_batch_table",
    "small_batch_recalibration",
    "small_batch_batch_of_one",
    "ddp_table",
    "sync_check_table",
    "moving_statistics_setup",
    "moving_statistics_accuracy",
    "moving_statistics_lag",
    "moving_statistics_noise",
    "moving_statistics_run",
]
