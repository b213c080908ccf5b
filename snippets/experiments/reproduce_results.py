"""The results page's numbers, read from the committed results of `python -m bnref reproduce`."""
# --8<-- [start:describe]
from bnref.experiments.report import pages
from bnref import results


cpu_run = results.path("reproduce-cpu.json")
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
from bnref.experiments.report import pages
from bnref import results

pages.describe(results.path("throughput-cpu.json"))
pages.throughput_table(results.path("throughput-cpu.json"))
# --8<-- [end:throughput]

# --8<-- [start:fused]
# continues the blocks above (pages, results, cpu_run)
fused_run = results.path("reproduce-cpu-fused.json")
pages.describe(fused_run)
pages.summary_table(fused_run)
pages.reached_note_accuracy(fused_run)
pages.reached_note_accuracy(cpu_run)
# --8<-- [end:fused]

# --8<-- [start:gpu]
# continues the blocks above (results)
print([name for name in results.names() if name.startswith("reproduce-")])
print([name for name in results.names() if name.startswith("throughput-")])
# --8<-- [end:gpu]
