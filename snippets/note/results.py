"""Our full runs of the note's listings, printed from the committed results file.

``python -m bnref reproduce`` trains each network of the note with its
settings and writes ``docs/results/reproduce-cpu.json`` (command, machine and
versions inside). The chapter prints seed 0 from that file in the note's
format, so the test suite checks that page and file agree; every seed, and
the comparison with the note, is on the Experiments page.
"""
# --8<-- [start:machine]
from pathlib import Path

import torch

import bnref
from bnref.experiments import reproduce

RESULTS = Path(bnref.__file__).parents[2] / "docs" / "results" / "reproduce-cpu.json"
data = reproduce.load(RESULTS)
print(data["command"])
print(f"{data['device']}: {data['device_name']}, {data['cpu_count']} cores, "
      f"{data['torch_threads']} torch thread(s); torch {data['torch']}")
# --8<-- [end:machine]

# --8<-- [start:lenet_bn]
reproduce.note_lines(RESULTS, "lenet_bn", seed=0)
# --8<-- [end:lenet_bn]

# --8<-- [start:lenet]
reproduce.note_lines(RESULTS, "lenet", seed=0)
# --8<-- [end:lenet]

# --8<-- [start:gamma_beta]
run = next(r for r in data["models"]["lenet_bn"]["runs"] if r["seed"] == 0)
print(torch.tensor(run["net1_gamma"]))
print(torch.tensor(run["net1_beta"]))
# --8<-- [end:gamma_beta]
