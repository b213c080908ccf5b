# The ddp command's committed results (docs/results/ddp-cpu.json).
# --8<-- [start:table]
from bnref.experiments import pages, record

path = record.results_dir() / "ddp-cpu.json"  # docs/results of this checkout
pages.describe(path)
pages.ddp_table(path)
# --8<-- [end:table]
