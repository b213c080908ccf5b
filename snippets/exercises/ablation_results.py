# The exercises' numbers, read from the committed results of `python -m bnref ablation`.
# Each section stands alone (imports what it uses), so that it can be pasted by itself.
# --8<-- [start:describe]
from bnref.experiments.report import pages
from bnref import results

pages.describe(results.path("ablation-cpu.json"))
# --8<-- [end:describe]

# --8<-- [start:lr]
from bnref.experiments.report import pages
from bnref import results

pages.ablation_table(results.path("ablation-cpu.json"), ["all", "none"])
# --8<-- [end:lr]

# --8<-- [start:where]
from bnref.experiments.report import pages
from bnref import results

pages.ablation_table(results.path("ablation-cpu.json"), ["all", "conv", "fc", "none"])
# --8<-- [end:where]

# --8<-- [start:parts]
from bnref.experiments.report import pages
from bnref import results

pages.ablation_table(results.path("ablation-cpu.json"), ["all", "mean-only", "std-only"])
# --8<-- [end:parts]

# --8<-- [start:fixed]
from bnref.experiments.report import pages
from bnref import results

ablation = results.path("ablation-cpu.json")
pages.ablation_table(ablation, ["all", "fixed-affine"])
pages.ablation_affine(ablation, "all")
# --8<-- [end:fixed]
