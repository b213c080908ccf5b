# Exercise 2: the learning-rate sweep (python -m bnref lr-sweep), read from its committed results.
from bnref.experiments import pages
from bnref.experiments.record import results_dir

sweep = results_dir() / "lr-sweep-cpu.json"  # docs/results of this checkout
pages.lr_sweep_summary(sweep)
