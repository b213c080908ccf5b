# The exercises' numbers, read from the committed results of `python -m bnref ablation`.
# Each section stands alone (imports what it uses), so that it can be pasted by itself.
# --8<-- [start:describe]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

pages.describe(results_dir() / "ablation-cpu.json")
# --8<-- [end:describe]

# --8<-- [start:lr]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

pages.ablation_table(results_dir() / "ablation-cpu.json", ["all", "none"])
# --8<-- [end:lr]

# --8<-- [start:where]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

pages.ablation_table(results_dir() / "ablation-cpu.json", ["all", "conv", "fc", "none"])
# --8<-- [end:where]

# --8<-- [start:parts]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

pages.ablation_table(results_dir() / "ablation-cpu.json", ["all", "mean-only", "std-only"])
# --8<-- [end:parts]

# --8<-- [start:fixed]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

ablation = results_dir() / "ablation-cpu.json"
pages.ablation_table(ablation, ["all", "fixed-affine"])
pages.ablation_affine(ablation, "all")
# --8<-- [end:fixed]
