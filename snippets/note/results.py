"""Our full runs of the note's listings, printed from the committed results file.

``python -m bnref reproduce`` trains each network of the note with its
settings and writes ``src/bnref/results/reproduce-cpu.json`` (command, machine and
versions inside). The chapter prints seed 0 from that file in the note's
format, so the test suite checks that page and file agree; every seed, and
the comparison with the note, is on the Experiments page.
"""
# --8<-- [start:machine]
import torch

from bnref import results
from bnref.experiments.report import pages

from bnref.experiments.harness import record
run_file = results.path("reproduce-cpu.json")
data = record.load(run_file)
machine, versions = data["provenance"]["machine"], data["provenance"]["versions"]
print(data["command"])
print(f"{machine['device']}: {machine['cpu']}, {machine['cores']} cores, "
      f"{machine['torch_threads']} torch thread(s); torch {versions['torch']}")
# --8<-- [end:machine]

# --8<-- [start:lenet_bn]
# continues the block above (pages, run_file)
pages.note_lines(run_file, "lenet_bn", seed=0)
# --8<-- [end:lenet_bn]

# --8<-- [start:lenet]
# continues the blocks above (pages, run_file)
pages.note_lines(run_file, "lenet", seed=0)
# --8<-- [end:lenet]

# --8<-- [start:gamma_beta]
# continues the blocks above (torch, data)
run = data["runs"]["lenet_bn/seed=0"]
print(torch.tensor(run["net1_gamma"]))
print(torch.tensor(run["net1_beta"]))
# --8<-- [end:gamma_beta]
