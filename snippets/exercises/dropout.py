# Exercise 6: dropout beside BN (python -m bnref dropout), read from its committed results.
from bnref.experiments.report import pages
from bnref import results

dropout = results.path("dropout-cpu.json")
pages.dropout_table(dropout)
