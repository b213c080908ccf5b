# The moving-statistics experiment's committed results (src/bnref/results/moving-statistics-cpu.json).
# --8<-- [start:describe]
from bnref import results
from bnref.experiments.report import pages

path = results.path("moving-statistics-cpu.json")
pages.describe(path)
pages.moving_statistics_setup(path)
# --8<-- [end:describe]

# --8<-- [start:accuracy]
# continues the block above (pages, path)
pages.moving_statistics_accuracy(path)
# --8<-- [end:accuracy]

# --8<-- [start:noise]
# continues the block above (pages, path)
pages.moving_statistics_noise(path)
# --8<-- [end:noise]

# --8<-- [start:lag]
# continues the block above (pages, path)
pages.moving_statistics_lag(path)
# --8<-- [end:lag]

# --8<-- [start:run]
# continues the block above (pages, path)
pages.moving_statistics_run(path, momentum=None, batch_size=256)
# --8<-- [end:run]
