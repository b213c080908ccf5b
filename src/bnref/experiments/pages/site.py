"""Printer for the site's own measurements: ``bash .ci/lighthouse`` (src/bnref/results/lighthouse.json)."""

from __future__ import annotations

from pathlib import Path

from bnref.experiments.pages._common import load


def lighthouse_table(path: str | Path, labels: list[str] | None = None) -> None:
    """Print Lighthouse's scores, bytes and timings of one page, one line per labelled run.

    ``labels`` picks and orders the runs (default: every run in the file, in file order). Each
    run is the median of its Lighthouse runs by performance score; ``all perf`` lists every run's
    score, so the spread is visible. Timings are Lighthouse's simulated mobile timings (4x CPU
    slowdown, slow 4G), in ms.
    """
    r = load(path)
    runs = r["runs"]
    labels = list(runs) if labels is None else labels
    missing = [label for label in labels if label not in runs]
    if missing:
        raise KeyError(f"{path}: no run labelled {missing}; it has {sorted(runs)}")
    print(f"command: {r['command']}")
    first = runs[labels[0]]
    print(f"Lighthouse {first['versions']['lighthouse']}, "
          f"{first['form_factor']} emulation, {first['throttling']} throttling")
    width = max(len(label) for label in labels)
    print(f"{'run':{width}} {'page':22} {'served':6} {'perf':>4} {'all perf':24} {'a11y':>4} "
          f"{'KB':>5} {'FCP':>5} {'LCP':>5} {'TBT':>4} {'CLS':>5} {'build s':>7} {'load':>5} commit")
    for label in labels:
        run = runs[label]
        s, t = run["scores"], run["metrics_ms"]
        served = "plain" if run["served"].startswith("uncompressed") else "gzip"
        every = "/".join(f"{x:.2f}" for x in run["scores_all_runs"]["performance"])
        print(f"{label:{width}} {run['page']:22} {served:6} {s['performance']:4.2f} {every:24} "
              f"{s['accessibility']:4.2f} {run['total_bytes'] / 1000:5.0f} "
              f"{t['first-contentful-paint']:5} {t['largest-contentful-paint']:5} "
              f"{t['total-blocking-time']:4} {t['cumulative-layout-shift']:5.3f} "
              f"{run['build_strict_s']:7.1f} {run['machine']['load_average'][0]:5.1f} "
              f"{run['commit'][:7]}")
