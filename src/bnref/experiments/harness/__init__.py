"""What every experiment shares: where results go and what produced them
(:mod:`.record`), the check that a file's numbers are still what the code
produces (:mod:`.replay`), the grid × seed loop with its options, data and
scoring (:mod:`.sweep`), and the timing environment (:mod:`.timing`).

Imports go one way: the library (:mod:`bnref.norm`, :mod:`bnref.models`,
:mod:`bnref.d2l` ...) ← this harness ← the commands (:mod:`bnref.experiments.commands`).
"""
