"""Editor's first lines for the note's listings that need an earlier block.

The note's listings (src/bnref/note.py, and the verbatim sections of the files
beside this one) build on each other, as in the note's notebook. A reader who
copies one into a fresh Python session needs what the blocks above it
defined; the page puts one of these comments on the listing's first line to
say so (tests/site/test_copy_paste.py runs every self-contained block alone).
"""
# --8<-- [start:BatchNorm]
# (editor) continues the block above: torch, nn, batch_norm
# --8<-- [end:BatchNorm]

# --8<-- [start:net]
# (editor) continues the blocks above: nn, BatchNorm
# --8<-- [end:net]

# --8<-- [start:train]
# (editor) continues the blocks above: d2l, net
# --8<-- [end:train]

# --8<-- [start:inspect]
# (editor) continues the blocks above: net (trained by the block above)
# --8<-- [end:inspect]

# --8<-- [start:concise]
# (editor) continues the blocks above: nn
# --8<-- [end:concise]
