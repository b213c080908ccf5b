"""The results page's numbers, read from the committed results of `python -m bnref reproduce`."""
# --8<-- [start:describe]
from bnref.experiments import reproduce
from bnref.experiments.reproduce import RESULTS

cpu_run = RESULTS / "reproduce-cpu.json"
reproduce.describe(cpu_run)
# --8<-- [end:describe]

# --8<-- [start:table]
reproduce.summary_table(cpu_run)
# --8<-- [end:table]

# --8<-- [start:lines]
reproduce.note_lines(cpu_run, "lenet_bn", seed=0)
reproduce.note_lines(cpu_run, "lenet", seed=0)
# --8<-- [end:lines]

# --8<-- [start:gamma_beta]
reproduce.gamma_beta(cpu_run, "lenet_bn")
# --8<-- [end:gamma_beta]

# --8<-- [start:throughput]
reproduce.describe(RESULTS / "throughput-cpu.json")
reproduce.throughput_table(RESULTS / "throughput-cpu.json")
# --8<-- [end:throughput]

# --8<-- [start:fused]
fused_run = RESULTS / "reproduce-cpu-fused.json"
reproduce.describe(fused_run)
reproduce.summary_table(fused_run)
reproduce.reached_note_accuracy(fused_run)
reproduce.reached_note_accuracy(cpu_run)
# --8<-- [end:fused]

# --8<-- [start:gpu]
print(sorted(p.name for p in RESULTS.glob("reproduce-*.json")))
print(sorted(p.name for p in RESULTS.glob("throughput-*.json")))
# --8<-- [end:gpu]
