"""Printers for the site's pages, in one place: every number a page shows comes from a results
file, through a function here.

Each takes the path of a results file explicitly (the committed ones are under ``src/bnref/results/``
of a checkout, :func:`bnref.experiments.record.results_dir`) and prints what the page shows;
the test suite runs the pages and compares their output. One module per family of files:

* :mod:`.reproduce` — the reproduction and throughput files;
* :mod:`.bench` — the bench and validation files;
* :mod:`.small_batch` — the small-batch file;
* :mod:`.claims` — the controlled experiments behind the claims page;
* :mod:`.beyond` — inference cost, the noise arms, training across processes (DDP, and
  two processes against one, layer by layer);
* :mod:`.site` — the site's own measurements (Lighthouse).
"""

from __future__ import annotations

from bnref.experiments.pages.reproduce import (  # noqa: F401
    note_lines, summary, summary_table, throughput_table, reached_note_accuracy, describe, gamma_beta, _runs,
)
from bnref.experiments.pages.bench import (  # noqa: F401
    format_table, bench_table, target_lines, validation_table, TARGETS, GPU_TARGETS, GPU_BANDWIDTH_SHARE,
)
from bnref.experiments.pages.small_batch import (  # noqa: F401
    small_batch_table, small_batch_recalibration, small_batch_batch_of_one,
)
from bnref.experiments.pages.claims import (  # noqa: F401
    ablation_table, ablation_affine, lr_sweep_table, lr_sweep_summary, init_scale_table, placement_table, dropout_table, dropout_variance_shift,
)
from bnref.experiments.pages.beyond import ddp_table, ghost_bn_table, inference_table, sync_check_table  # noqa: F401
from bnref.experiments.pages.site import lighthouse_table  # noqa: F401
