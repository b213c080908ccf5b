"""Each figure function writes a valid, stable SVG (cheap checks; no training here).

The experiments' figures, each drawn from its results file, are checked with their command
in test_commands.py (from a fresh run, and the committed file against docs/figures)."""

import re
import xml.etree.ElementTree as ET

import pytest

from bnref.experiments.report import figures
from bnref.experiments.report.figures import note

from results_support import RESULTS

SVG = "{http://www.w3.org/2000/svg}svg"


def _svg_root(path):
    root = ET.parse(path).getroot()  # raises on a malformed file
    assert root.tag == SVG
    return root


@pytest.mark.parametrize("kind, cells", [
    ("BatchNorm", note.CUBE_N * note.CUBE_HW),         # one channel, all N and H, W
    ("LayerNorm", note.CUBE_C * note.CUBE_HW),         # one sample, all C and H, W
    ("InstanceNorm", note.CUBE_HW),                    # one sample, one channel
    ("GroupNorm", note.CUBE_C // note.CUBE_GROUPS * note.CUBE_HW),
])
def test_cube_shades_the_cells_that_share_statistics(kind, cells):
    shaded = note._shaded(kind)
    assert shaded.shape == (note.CUBE_N, note.CUBE_C, note.CUBE_HW)
    assert shaded.sum() == cells


def test_cube_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="got 'BatchNorm3d'"):
        note._shaded("BatchNorm3d")


def test_norm_cube_is_a_valid_svg_without_date(tmp_path):
    out = figures.norm_cube(tmp_path / "cube.svg")
    _svg_root(out)
    text = out.read_text()
    assert "<dc:date>" not in text
    assert text.count('<g id="axes_') == 4  # one cube per normalization
    fills = {tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))
             for h in re.findall(r"fill: #([0-9a-f]{6})", text)}
    assert any(b > r + 60 for r, g, b in fills)  # shaded (blue) cells, lit or in shadow
    assert any(r == g == b < 255 for r, g, b in fills)  # plain (grey) cells


def test_curves_from_the_committed_results_are_stable(tmp_path):
    first = figures.curves(RESULTS / "reproduce-cpu.json", tmp_path / "a.svg")
    second = figures.curves(RESULTS / "reproduce-cpu.json", tmp_path / "b.svg")
    _svg_root(first)
    assert first.read_bytes() == second.read_bytes()  # svg.hashsalt, no date

