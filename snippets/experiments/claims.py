"""The claims page's evidence: every number printed from a committed results file.

Each section starts with its own imports, so it runs alone in a fresh Python session.
"""
# --8<-- [start:lr_range_table]
from bnref.experiments.report import pages
from bnref import results

pages.lr_range_table(results.path("lr-range-cpu.json"))
# --8<-- [end:lr_range_table]

# --8<-- [start:dropout_table]
from bnref.experiments.report import pages
from bnref import results

pages.dropout_table(results.path("dropout-cpu.json"))
# --8<-- [end:dropout_table]

# --8<-- [start:placement_table]
from bnref.experiments.report import pages
from bnref import results

pages.placement_table(results.path("placement-cpu.json"))
# --8<-- [end:placement_table]

# --8<-- [start:inference_table]
from bnref.experiments.report import pages
from bnref import results

pages.inference_table(results.path("inference-cpu.json"))
# --8<-- [end:inference_table]

# --8<-- [start:small_batch]
from bnref.experiments.report import pages
from bnref import results

pages.small_batch_table(results.path("small-batch-cpu.json"))
pages.small_batch_recalibration(results.path("small-batch-cpu.json"))
pages.small_batch_batch_of_one(results.path("small-batch-cpu.json"))
# --8<-- [end:small_batch]

# --8<-- [start:ghost_bn_table]
from bnref.experiments.report import pages
from bnref import results

pages.ghost_bn_table(results.path("ghost-bn-cpu.json"))
# --8<-- [end:ghost_bn_table]

# --8<-- [start:init_scale_table]
from bnref.experiments.report import pages
from bnref import results

pages.init_scale_table(results.path("init-scale-cpu.json"))
# --8<-- [end:init_scale_table]

# --8<-- [start:convergence_speed]
from bnref.experiments.report import pages
from bnref import results

pages.convergence_speed(results.path("convergence-cpu.json"))
# --8<-- [end:convergence_speed]

# --8<-- [start:convergence_table]
from bnref.experiments.report import pages
from bnref import results

pages.convergence_table(results.path("convergence-cpu.json"))
# --8<-- [end:convergence_table]

# --8<-- [start:regularization_table]
from bnref.experiments.report import pages
from bnref import results

pages.regularization_table(results.path("regularization-cpu.json"))
# --8<-- [end:regularization_table]
