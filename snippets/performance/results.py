# The performance page's tables, printed from the committed results files (src/bnref/results/).
# --8<-- [start:inference]
from bnref import results
from bnref.experiments.report import pages

inference = results.path("inference-cpu.json")
pages.measured_on(inference)
pages.inference_table(inference)
# --8<-- [end:inference]

# --8<-- [start:bench]
# continues the block above (pages, results)
pages.bench_table(results.path("bench-cpu.json"), targets=False)
# --8<-- [end:bench]

# --8<-- [start:allocators]
# continues the blocks above (pages, results)
pages.allocator_table([results.path("bench-cpu.json"), results.path("bench-cpu-retain.json"),
                       results.path("bench-cpu-thp.json")], modes=("train",))
# --8<-- [end:allocators]

# --8<-- [start:throughput]
# continues the blocks above (pages, results)
throughput = results.path("throughput-cpu.json")
pages.measured_on(throughput)
pages.throughput_table(throughput)
# --8<-- [end:throughput]

# --8<-- [start:validation]
# continues the blocks above (pages, results)
pages.validation_table(results.path("bench-validation.json"))
# --8<-- [end:validation]

# --8<-- [start:lighthouse]
# continues the blocks above (pages, results)
pages.lighthouse_table(results.path("lighthouse.json"), ["lazy-code-gzip", "lazy-code-plain"])
# --8<-- [end:lighthouse]

# --8<-- [start:lighthouse_all]
# continues the blocks above (pages, results): every page of the site, one run each
import json

lighthouse = results.path("lighthouse.json")
every_page = [label for label in json.loads(lighthouse.read_text())["runs"]
              if label.startswith("all/")]
pages.lighthouse_table(lighthouse, every_page)
# --8<-- [end:lighthouse_all]
