# Exercise 2: the learning-rate range (python -m bnref lr-sweep, 5 seeds) and the accuracy each
# network converges to at its best rate (python -m bnref convergence), read from their
# committed results.
from bnref.experiments.report import pages
from bnref import results

pages.lr_range_table(results.path("lr-range-cpu.json"))
pages.convergence_table(results.path("convergence-cpu.json"))
