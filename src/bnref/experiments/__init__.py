"""The commands: experiments, figures, benchmarks (``python -m bnref --help``).

One command per file, each with ``configure(parser)`` and ``run(args)``;
the library (:mod:`bnref.norm`, :mod:`bnref.speed`, :mod:`bnref.models`,
:mod:`bnref.d2l`) never imports this package. They share:

* :mod:`bnref.d2l.train` — the one training loop, :func:`~bnref.d2l.train.fit`;
* :mod:`bnref.experiments.record` — where results go and what produced them,
  each finished run written at once, resumable;
* :mod:`bnref.experiments.replay` — the check that a results file's numbers
  are still what the code produces;
* :mod:`bnref.experiments.pages` — the printers the site's pages call;
* :mod:`bnref.experiments.figures` — the figures, drawn from results files.
"""
