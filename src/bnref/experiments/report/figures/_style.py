"""The figures' shared style: colours, labels, a stable SVG writer."""

from __future__ import annotations

from pathlib import Path

#: colour per model, shared by every figure
COLORS = {"lenet_bn": "tab:blue", "lenet_bn_concise": "tab:green", "lenet": "tab:orange"}


LABELS = {"lenet_bn": "LeNet + BN (from scratch)", "lenet_bn_concise": "LeNet + nn.BatchNorm",
          "lenet": "LeNet (no BN)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.hashsalt": "bnref",   # stable ids inside the SVG
        "svg.fonttype": "path",    # text as paths: the same look without the fonts
        "font.size": 10,
    })
    return plt


def save(fig, out_path: str | Path) -> Path:
    """Write ``fig`` as a stable SVG (no date in the metadata) and close it."""
    plt = _pyplot()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {out}")
    return out
