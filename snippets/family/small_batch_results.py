# The small-batch experiment's committed results (docs/results/small-batch-cpu.json).
# --8<-- [start:describe]
import json
from pathlib import Path

import bnref
from bnref.experiments import small_batch

root = Path(bnref.__file__).resolve().parents[2]          # the repository
path = root / "docs" / "results" / "small-batch-cpu.json"
report = json.loads(path.read_text(encoding="utf-8"))
print("command:", report["command"])
print("machine:", report["machine"]["cpu"], f"({report['machine']['cores']} cores,",
      f"{report['machine']['torch_threads']} torch thread)")
print("versions:", ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
print("budget:", report["examples_budget"], "examples per run;", report["lr_rule"])
print(f"wall time: {report['wall_seconds'] / 60:.1f} min for {len(report['results'])} runs")
# --8<-- [end:describe]

# --8<-- [start:table]
print("test error (%), evaluation mode, 10000 test images")
print(small_batch.table(path))
# --8<-- [end:table]
