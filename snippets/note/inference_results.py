"""The note's "20 % slower", measured: printed from the committed results file.

``python -m bnref inference`` times LeNet without BN, with BN and with BN
folded into the layer before it (eval mode, batches of 1 and 256), and
training steps with and without BN, and writes
``src/bnref/results/inference-cpu.json`` (command, machine and versions inside).
The chapter's editor's note prints it, so the test suite checks that page
and file agree.
"""
# --8<-- [start:table]
from bnref import results
from bnref.experiments.report import pages

path = results.path("inference-cpu.json")
pages.describe(path)
pages.inference_table(path)
# --8<-- [end:table]
