# Exercise 6: dropout beside BN (python -m bnref dropout), read from its committed results.
from bnref.experiments import pages
from bnref.experiments.record import results_dir

dropout = results_dir() / "dropout-cpu.json"  # docs/results of this checkout
pages.dropout_table(dropout)
