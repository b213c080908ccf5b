"""The claims page's evidence: every number printed from a committed results file.

Each section starts with its own imports, so it runs alone in a fresh Python session.
"""
# --8<-- [start:lr_sweep_summary]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.lr_sweep_summary(RESULTS / "lr-sweep-cpu.json")
# --8<-- [end:lr_sweep_summary]

# --8<-- [start:lr_sweep_table]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.lr_sweep_table(RESULTS / "lr-sweep-cpu.json")
# --8<-- [end:lr_sweep_table]

# --8<-- [start:dropout_table]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.dropout_table(RESULTS / "dropout-cpu.json")
# --8<-- [end:dropout_table]

# --8<-- [start:placement_table]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.placement_table(RESULTS / "placement-cpu.json")
# --8<-- [end:placement_table]

# --8<-- [start:inference_table]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.inference_table(RESULTS / "inference-cpu.json")
# --8<-- [end:inference_table]

# --8<-- [start:small_batch]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.small_batch_table(RESULTS / "small-batch-cpu.json")
pages.small_batch_recalibration(RESULTS / "small-batch-cpu.json")
pages.small_batch_batch_of_one(RESULTS / "small-batch-cpu.json")
# --8<-- [end:small_batch]

# --8<-- [start:ghost_bn_table]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.ghost_bn_table(RESULTS / "ghost-bn-cpu.json")
# --8<-- [end:ghost_bn_table]

# --8<-- [start:init_scale_table]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.init_scale_table(RESULTS / "init-scale-cpu.json")
# --8<-- [end:init_scale_table]
