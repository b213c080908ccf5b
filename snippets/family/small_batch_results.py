# The small-batch experiment's committed results (src/bnref/results/small-batch-cpu.json).
# --8<-- [start:describe]
from bnref import results
from bnref.experiments.report import pages

from bnref.experiments.harness import record
path = results.path("small-batch-cpu.json")
pages.describe(path)
report = record.load(path)
config = report["config"]
print(f"budget: {config['examples']} examples per run; {config['lr_rule']}; "
      f"seeds 0-{config['seeds'] - 1}")
print("steps per run (budget // batch size): " + ", ".join(
    f"{config['examples'] // b} at {b}" for b in config["batch_sizes"]))
# --8<-- [end:describe]

# --8<-- [start:table]
# continues the block above (pages, path)
print("evaluation mode, 10000 test images")
pages.small_batch_table(path)
# --8<-- [end:table]

# --8<-- [start:recalibration]
# continues the block above (path)
pages.small_batch_recalibration(path)
# --8<-- [end:recalibration]

# --8<-- [start:batch_of_one]
# continues the block above (path)
pages.small_batch_batch_of_one(path)
# --8<-- [end:batch_of_one]
