# The ddp command's committed results (src/bnref/results/ddp-cpu.json).
# --8<-- [start:table]
from bnref import results
from bnref.experiments.report import pages

path = results.path("ddp-cpu.json")
pages.describe(path)
pages.ddp_table(path)
# --8<-- [end:table]
