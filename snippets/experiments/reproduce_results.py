"""The results page's numbers, read from the committed results of `python -m bnref reproduce`."""
# --8<-- [start:describe]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout

cpu_run = RESULTS / "reproduce-cpu.json"
pages.describe(cpu_run)
# --8<-- [end:describe]

# --8<-- [start:table]
# continues the block above (pages, cpu_run)
pages.summary_table(cpu_run)
# --8<-- [end:table]

# --8<-- [start:lines]
# continues the blocks above (pages, cpu_run)
pages.note_lines(cpu_run, "lenet_bn", seed=0)
pages.note_lines(cpu_run, "lenet", seed=0)
# --8<-- [end:lines]

# --8<-- [start:gamma_beta]
# continues the blocks above (pages, cpu_run)
pages.gamma_beta(cpu_run, "lenet_bn")
# --8<-- [end:gamma_beta]

# --8<-- [start:throughput]
from bnref.experiments import pages
from bnref.experiments.record import results_dir

RESULTS = results_dir()  # docs/results of this checkout
pages.describe(RESULTS / "throughput-cpu.json")
pages.throughput_table(RESULTS / "throughput-cpu.json")
# --8<-- [end:throughput]

# --8<-- [start:fused]
# continues the blocks above (pages, RESULTS, cpu_run)
fused_run = RESULTS / "reproduce-cpu-fused.json"
pages.describe(fused_run)
pages.summary_table(fused_run)
pages.reached_note_accuracy(fused_run)
pages.reached_note_accuracy(cpu_run)
# --8<-- [end:fused]

# --8<-- [start:gpu]
# continues the blocks above (RESULTS)
print(sorted(p.name for p in RESULTS.glob("reproduce-*.json")))
print(sorted(p.name for p in RESULTS.glob("throughput-*.json")))
# --8<-- [end:gpu]
