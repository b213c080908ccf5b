# Exercise 2: the learning-rate sweep (python -m bnref lr-sweep), read from its committed results.
from bnref.experiments.report import pages
from bnref import results

sweep = results.path("lr-sweep-cpu.json")
pages.lr_sweep_summary(sweep)
