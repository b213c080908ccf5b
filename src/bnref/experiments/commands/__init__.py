"""One module per command of ``python -m bnref``: each declares its grid (the settings it
varies, and the one factor its comparison changes), trains through the harness
(:mod:`bnref.experiments.harness`) and writes one results file. No command
imports the report layer: figures and pages are drawn from the files afterwards
(``python -m bnref figures``)."""
