"""Our full runs of the note's listings, printed from the committed results file.

``python -m bnref reproduce`` trains each network of the note with its
settings and writes ``docs/results/reproduce-cpu.json`` (command, machine and
versions inside). The chapter prints seed 0 from that file in the note's
format, so the test suite checks that page and file agree; every seed, and
the comparison with the note, is on the Experiments page.
"""
# --8<-- [start:machine]
import torch

from bnref.experiments import pages, record

RESULTS = record.results_dir() / "reproduce-cpu.json"  # docs/results of this checkout
data = record.load(RESULTS)
machine, versions = data["provenance"]["machine"], data["provenance"]["versions"]
print(data["command"])
print(f"{machine['device']}: {machine['cpu']}, {machine['cores']} cores, "
      f"{machine['torch_threads']} torch thread(s); torch {versions['torch']}")
# --8<-- [end:machine]

# --8<-- [start:lenet_bn]
# continues the block above (pages, RESULTS)
pages.note_lines(RESULTS, "lenet_bn", seed=0)
# --8<-- [end:lenet_bn]

# --8<-- [start:lenet]
# continues the blocks above (pages, RESULTS)
pages.note_lines(RESULTS, "lenet", seed=0)
# --8<-- [end:lenet]

# --8<-- [start:gamma_beta]
# continues the blocks above (torch, data)
run = data["runs"]["lenet_bn/seed=0"]
print(torch.tensor(run["net1_gamma"]))
print(torch.tensor(run["net1_beta"]))
# --8<-- [end:gamma_beta]
