"""Every measured number in a page's prose is backed by the page's own printed output.

The project's rule is that a number on a page comes from a committed results file
(``src/bnref/results/*.json``), rendered by code. The code blocks keep to it: Sybil runs each
page's ``python`` blocks and checks that they print exactly the ```` ```output ```` block
after them, and the suite replays each results file. The prose does not run: the "At a
glance" tables, the verdicts, the findings and the figure descriptions are typed by hand,
in both columns, and would silently go stale when an experiment is rerun. This module
ties the prose to the output blocks (and so, through Sybil, to the results files): every
measured number in a page's prose must be found among the numbers its output blocks print.

What is read (the page's prose)
    Everything outside fenced blocks (```` ```python ````, ```` ```output ````,
    ```` ```bash ````...), outside ``>`` blockquotes (they quote the note: its words, not
    ours), headings (section numbers, and the note's claims used as titles), ``$$``
    display formulas and HTML comments. Within a line, inline code, link and image
    targets, attribute lists (``{#id}``), HTML tags, URLs and inline formulas are blanked
    out; a formula that is nothing but a number (``$8\\times10^{-6}$``) is read as that
    number. Image alt text and Markdown tables are prose and are read.

What a number is
    Digits with an optional decimal part, thousands separators (``10,000``) or exponent
    (``2e-4``), standing on their own: not part of a name (ResNet-50, float32, CIFAR-10,
    BN-x5, arXiv:1502.03167), a section (§3.3), a version or address (2.14.1, 127.0.0.1),
    a date (2026-12-03), a compound (2-core, 110-layer, 2-D), or a scale or shape written
    with ``×`` (×0.01, 28×28, 4 × 8, 4× slowdown). Signs are read but not compared: the
    words carry them ("2.8 points higher", "低约 25 个百分点" for ``-24.9``).

Which numbers are measurements (the ones checked)
    A number is a measurement when it has a decimal part or an exponent, when a unit of
    measure follows it (``%``, points, 个百分点, ms, µs, s, 秒, min, times, 倍, ``x``,
    examples/sec, 个样本/秒, steps, 步), when it has a spread (``9 ± 2``), or when it is
    approximate (see below). A bare integer is a count — seeds, epochs, batch sizes,
    layers, channels, processes, images, years, table and figure numbers — a setting, not
    a measurement. A number named as a setting right before it is a setting too: lr 0.3,
    learning rate 1.0, 学习率 0.9, p = 0.5, momentum 0.9, dropout 0.5, since 2.2, PyTorch
    2.2. The members of a range or a list share the unit of the last (``26–31 %``, ``3 to
    6 points``, ``94 against about 270 steps``), the "about" of the first and the setting
    of the first (``p = 0, 0.1, 0.3 and 0.5``); a parenthesis between them is skipped.

When the output backs a prose number
    The pool is every number printed in the page's ```` ```output ```` blocks.

    * Rounding: a prose number written with k decimals is backed by an output number
      that rounds to it at k decimals (within half a unit of its last digit, so either
      rounding convention): ``46 %`` by ``46.2``, ``39 %`` by ``39.0``, ``2e-4`` by
      ``2.0e-04``.
    * Percent and fraction: a prose percentage (``%``, points, 个百分点) may be backed by
      a fraction in the output (``83.7 %`` by ``0.837``, ``+0.7 points`` by ``+0.007``);
      a prose fraction written with two or more decimals (``0.912``) may be backed by a
      percentage in the output (``91.2 %``).
    * About: a number after about, around, roughly, approximately, nearly, near, close
      to, ``~``, ``≈``, 约, 大约, 将近, 近 (or before 左右, 上下) is also backed by an output
      number within ``APPROX_TOLERANCE`` (10 %) of it: ``about 300 steps`` by ``298``.

Numbers that are not the page's own printed measurements (``PAGES``, per page, short)
    * Earlier runs and ad hoc measurements: a parenthesis with numbers of its own, or
      else the whole sentence (up to 。 or ``. ``), that says its numbers come from
      elsewhere — an earlier run named by its commit (`` `ce7129c` ``) or as previous,
      earlier, the run before, another run, 上一版, 先前, 更早, 早先, 再上一次, 前一次, or a
      measurement made ad hoc (临时) — is not read: the page itself says these numbers are
      not from its committed results. A page may add a marker of its own (``earlier=``).
    * ``published``: values quoted from a paper, the note or another project, listed with
      the source the page cites; each is accepted only on a line that names its source.
    * ``unprinted``: this project's own numbers that no output block prints, each with
      where it comes from. They break the project's rule; the list is the debt to pay.
    * ``settings``: settings and test tolerances written with a unit or decimals.
    * ``derived``: a prose number computed from printed numbers (a difference of two
      values), with its formula; the formula's operands must be printed on the page, and
      the number must equal the formula's result (whatever else the page prints).
    * ``elsewhere``: a prose number that sums up another page's result, checked against
      that page's output.
    Every entry must still be used on its page (``test_allow_lists_are_used``), so an
    entry cannot outlive the text it was written for.

Matched to its place (``Rules.scoped``: the claims, small-batch and exercises pages)
    The pool of a prose number is not the whole page but its place: the output blocks of
    its own ``##`` section (both columns of a bilingual section are one place: ``{#x}``
    and ``{#x-en}``), of the sections its line links to (an at-a-glance row linking
    ``[…](#placement)``), and of the sections the page declares its section a summary of
    (``summaries``). A number moved to the wrong section, or a stale number that equals
    a value printed elsewhere on the page, fails.

Known limit: within its place a number is matched to any equal value, so a stale number
that equals, at its precision, another number of the same section still passes. Integers
with ``about`` (10 % of 15 is 1.5) are the weakest; decimals are the strongest. Pages not
scoped are matched against their whole output.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field

import pytest

from results_support import ROOT

# --------------------------------------------------------------------------
# 1. A page, split into prose and output
# --------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")


def split_page(text: str):
    """Yield ``(line number, kind, line)``; kind is ``prose``, ``output`` (inside an
    ```` ```output ```` fence), ``code`` (inside any other fence), ``fence``, ``quote``,
    ``heading``, ``math`` (a ``$$`` display) or ``comment``."""
    fence, info, math, comment = None, "", False, False
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if fence:
            m = FENCE.match(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not stripped[len(m.group(1)):].strip():
                fence = None
                yield number, "fence", line
            else:
                yield number, "output" if info == "output" else "code", line
            continue
        m = FENCE.match(line)
        if m:
            fence, info = m.group(1), m.group(2)
            yield number, "fence", line
        elif comment or stripped.startswith("<!--"):
            comment = "-->" not in stripped
            yield number, "comment", line
        elif stripped.startswith("$$"):
            if not (len(stripped) > 2 and stripped.endswith("$$")):
                math = not math
            yield number, "math", line
        elif math:
            yield number, "math", line
        elif stripped.startswith(">"):
            yield number, "quote", line
        elif stripped.startswith("#"):
            yield number, "heading", line
        else:
            yield number, "prose", line


HEADING_ID = re.compile(r"^##(?!#)\s.*\{#([\w-]+)\}\s*$")
LINKED = re.compile(r"\]\(#([\w-]+)\)")


def _key(anchor: str) -> str:
    """A section's key: its id, the English column's ``-en`` dropped (both columns are one
    section)."""
    return anchor.removesuffix("-en")


def section_keys(text: str) -> dict[int, str]:
    """Line number -> the key of the ``##`` section it is in ('' before the first)."""
    keys, key = {}, ""
    for number, line in enumerate(text.split("\n"), 1):
        m = HEADING_ID.match(line)
        if m:
            key = _key(m.group(1))
        keys[number] = key
    return keys


def section_pools(text: str) -> dict[str, list[float]]:
    """Section key -> the numbers printed in that section's ```` ```output ```` blocks."""
    keys, pools = section_keys(text), {}
    for number, kind, line in split_page(text):
        if kind == "output":
            pools.setdefault(keys[number], []).extend(
                float(m.group(1) + (m.group(2) or "")) for m in OUTPUT_NUMBER.finditer(line))
    return pools


OUTPUT_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)([eE][+\-]?\d+)?")


def output_numbers(text: str) -> list[float]:
    """Every number printed in the ```` ```output ```` blocks of ``text``, signs dropped."""
    block = "\n".join(line for _, kind, line in split_page(text) if kind == "output")
    return [float(m.group(1) + (m.group(2) or "")) for m in OUTPUT_NUMBER.finditer(block)]


# --------------------------------------------------------------------------
# 2. The reader's words of a prose line
# --------------------------------------------------------------------------


def _blank(m: re.Match) -> str:
    return " " * len(m.group(0))


def _math(m: re.Match) -> str:
    """A formula that is only a number ($8\\times10^{-6}$, $10^{-5}$) is kept as that
    number, padded to the formula's length; any other formula is blanked."""
    body = m.group(0).strip("$").removeprefix("\\(").removesuffix("\\)").strip()
    sci = re.fullmatch(r"(\d+(?:\.\d+)?)\s*\\times\s*10\^\{?(-?\d+)\}?", body)
    power = re.fullmatch(r"10\^\{?(-?\d+)\}?", body)
    if sci:
        number = f"{sci.group(1)}e{sci.group(2)}"
    elif power:
        number = f"1e{power.group(1)}"
    else:
        return _blank(m)
    return f" {number}".ljust(len(m.group(0)))


def clean(line: str) -> str:
    """``line`` with code spans, link and image targets, attribute lists, HTML tags, URLs
    and formulas blanked out, character for character, so positions still match."""
    line = re.sub(r"``.+?``|`[^`]*`", _blank, line)
    line = re.sub(r"(?<=\])\([^)]*\)", _blank, line)
    line = re.sub(r"\{[:#.][^}]*\}", _blank, line)
    line = re.sub(r"<[^>]+>", _blank, line)
    line = re.sub(r"https?://\S+", _blank, line)
    line = re.sub(r"\$[^$]+\$|\\\(.+?\\\)", _math, line)
    return line


# Words with which a page says that numbers come from elsewhere than its committed
# results: an earlier run (named by its commit, or as previous, earlier...) or a
# measurement made by hand (ad hoc, 临时).
EARLIER = (r"`[0-9a-f]{7,12}`|\bad hoc\b|\bprevious\b|\bearlier\b|\bbefore this one\b|"
           r"\bruns? before\b|\banother run\b|临时|上一版|先前|更早|早先|再上一次|前一次|另一次运行")
PARENTHESIS = re.compile(r"[(（][^()（）]*[)）]")
SENTENCE_END = re.compile(r"(?<=[。！？])|(?<=[.!?])(?=\s)")


def earlier_spans(raw: str, line: str, marker: re.Pattern) -> list[tuple[int, int]]:
    """Spans of a prose line that quote earlier or ad hoc measurements. ``raw`` is the
    line as written (commits are code spans), ``line`` its cleaned copy. A parenthesis
    with a marker and numbers of its own ("(1.03, 1.08 and 0.96 on the AMD EPYC before)")
    is one span; any other marker ("2.74 (commit `4b4a0e6`)", "Earlier, ...") takes its
    whole sentence."""
    spans = [m.span() for m in PARENTHESIS.finditer(raw)
             if marker.search(m.group(0)) and re.search(r"\d", line[m.start():m.end()])]
    rest = list(raw)
    for a, b in spans:
        rest[a:b] = " " * (b - a)
    rest = "".join(rest)
    start = 0
    for end in [m.start() for m in SENTENCE_END.finditer(raw)] + [len(raw)]:
        if end > start and marker.search(rest[start:end]):
            spans.append((start, end))
        start = end
    return spans


# --------------------------------------------------------------------------
# 3. Numbers in prose, and which of them are measurements
# --------------------------------------------------------------------------

NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
EXPONENT = re.compile(r"[eE][+\-−]?\d+")
UNIT = re.compile(
    r"\s*(?P<percent>%|％|个?百分点|points?\b)"
    r"|\s*(?:ms\b|µs\b|s\b|秒|min\b|分钟|times\b|倍|x(?!\w)|examples/s|examples per|个样本/秒"
    r"|steps?\b|步)")
APPROX_BEFORE = re.compile(
    r"(?:\babout|\baround|\broughly|\bapproximately|\bnearly|\bnear|\bclose to|~|≈|约|大约|"
    r"将近|近)\s*$", re.I)
APPROX_AFTER = re.compile(r"^\s*(?:左右|上下)")
SPREAD = re.compile(r"^\s*±|±\s*$")
# A number named as a setting right before it: lr 0.3, 学习率 1.0, p = 0.5, momentum 0.9,
# dropout 0.5, PyTorch 2.2 (a version). A list that starts with one is a list of settings.
SETTING = re.compile(
    r"(?:\blr|\blearning rates?(?: of| from)?|学习率(?:为|固定为|从|是)?|\bp\s*=|"
    r"\bmomentum|动量(?:为|取)?|\bdropout(?: p\s*=)?|丢弃概率|\bsince|(?<!来)自|\bPyTorch|\btorch|"
    r"\bPython)\s*$")
JOIN = re.compile(
    r"^\s*(?:%|％)?\s*(?:±|–|—|-|～|~|、|,|，|to|and|or|against|到|至|和|与|或|对)\s*[+\-−]?$")


@dataclass
class ProseNumber:
    line: int
    text: str  # as written, without its sign
    value: float  # absolute value
    decimals: int  # digits after the point, exponent counted: 2e-4 has 4, 46 has 0
    context: str  # the line as written
    start: int = 0
    end: int = 0
    percent: bool = False  # followed by %, points, 个百分点
    approx: bool = False  # after about, 约, ~ ...
    measured: bool = False  # a measurement (see the module docstring), not a count
    earlier: bool = False  # in a span that quotes an earlier or ad hoc measurement
    setting: bool = False  # named as a setting right before it (SETTING)
    unit: bool = field(default=False, repr=False)

    def where(self, width: int = 60) -> str:
        """The number marked ⟦…⟧ in the line as written, with ``width`` characters around."""
        start, end = self.start, self.end
        formula = next((m.span() for m in re.finditer(r"\$[^$]+\$|\\\(.+?\\\)", self.context)
                        if m.start() <= start < m.end()), None)
        if formula:  # a number written as a formula: mark the whole formula
            start, end = formula
        a, b = max(0, start - width), min(len(self.context), end + width)
        return (("…" if a else "") + self.context[a:start] + "⟦" + self.context[start:end]
                + "⟧" + self.context[end:b] + ("…" if b < len(self.context) else ""))


CITATION = re.compile(r"(?:\bsections?|\btables?|\bfigures?|\bexercises?|第|表|图|练习)\s*$", re.I)


def _not_a_number(line: str, start: int, end: int) -> str:
    """Why the digits at ``line[start:end]`` are not a number of their own ('' if they are)."""
    before, after = line[start - 1:start] if start else "", line[end:end + 2]
    if before in ("-", "−") and line[start - 2:start - 1].isalnum():
        return "part of a name or a date (ResNet-50, 2026-12-03)"
    if before.isascii() and (before.isalnum() or (before and before in "_.:/#\\^{")):
        return "part of a name, version or reference (float32, arXiv:1502.03167)"
    if before == "§" or CITATION.search(line[:start]):
        return "a section, table, figure or exercise (§3.3, 第 3.2 节, Table 2)"
    if after[:1] == "." and after[1:2].isdigit():
        return "a version or an address (2.14.1, 127.0.0.1)"
    if after[:1] in ("-", "−") and after[1:2].isalnum():
        return "a compound (2-core, 110-layer, 2-D)"
    if after[:1].isascii() and after[:1].isalpha() and not re.match(r"x(?!\w)", after):
        return "part of a name (2D, 8b)"
    if before == "×" or line[end:].lstrip().startswith("×") or line[:start].rstrip().endswith("×"):
        return "a scale or a shape (×0.01, 28×28, 4 × 8)"
    return ""


def prose_numbers(text: str, marker: re.Pattern = re.compile(EARLIER, re.I)) -> list[ProseNumber]:
    """Every number in the prose of ``text``; ``measured`` and ``earlier`` say whether the
    check applies to it."""
    found = []
    for number, kind, raw in split_page(text):
        if kind != "prose":
            continue
        line = clean(raw)
        earlier = earlier_spans(raw, line, marker)
        row = []
        for m in NUMBER.finditer(line):
            start, end = m.span()
            exp = EXPONENT.match(line, end)
            if exp:
                end = exp.end()
            if _not_a_number(line, start, end):
                continue
            mantissa = m.group(0).replace(",", "")
            exponent = exp.group(0)[1:].replace("−", "-") if exp else "0"
            before, after = line[:start].rstrip("+-−"), line[end:]
            unit = UNIT.match(after)
            p = ProseNumber(
                line=number, text=line[start:end], value=abs(float(f"{mantissa}e{exponent}")),
                decimals=len(mantissa.partition(".")[2]) - int(exponent), context=raw,
                start=start, end=end, percent=bool(unit and unit.group("percent")),
                approx=bool(APPROX_BEFORE.search(before) or APPROX_AFTER.match(after)),
                unit=bool(unit), earlier=any(a <= start < b for a, b in earlier),
                setting=bool(SETTING.search(before)))
            p.measured = (p.unit or p.decimals > 0 or bool(exp) or p.approx
                          or bool(SPREAD.search(before) or SPREAD.match(after)))
            row.append(p)
        # The members of a range or a list share the unit of the last and the "about" of
        # the first; a parenthesis between them is skipped ("4.8 (lr 0.1) and 10.8 points").
        parentheses = [m.span() for m in PARENTHESIS.finditer(line)]

        def inside(p):
            return next((s for s in parentheses if s[0] <= p.start < s[1]), None)

        pairs = [(a, b) for i, a in enumerate(row)
                 for b in [next((b for b in row[i + 1:] if inside(b) == inside(a)), None)] if b]
        pairs = [(a, b) for a, b in pairs if JOIN.match(PARENTHESIS.sub("", line[a.end:b.start]))]
        for a, b in reversed(pairs):  # the unit travels back from the last member
            if b.unit and not a.unit:
                a.unit = a.measured = True
                a.percent = b.percent
        for a, b in pairs:  # "about" and "setting" travel on from the first
            if a.approx and not b.approx:
                b.approx = b.measured = True
            b.setting = b.setting or a.setting
        found.extend(row)
    return found


# --------------------------------------------------------------------------
# 4. Backing a prose number with the output
# --------------------------------------------------------------------------

APPROX_TOLERANCE = 0.10


def backs(x: float, p: ProseNumber) -> bool:
    """Whether the output number ``x`` backs the prose number ``p`` (module docstring)."""
    candidates = [abs(x)]
    if p.percent:
        candidates.append(abs(x) * 100)  # 83.7 % from 0.837
    elif p.value <= 1 and p.decimals >= 2 and "e" not in p.text.lower():
        candidates.append(abs(x) / 100)  # 0.837 from 83.7 %
    half_unit = 0.5 * 10.0 ** -p.decimals
    return any(abs(c - p.value) <= half_unit * (1 + 1e-9)
               or (p.approx and abs(c - p.value) <= APPROX_TOLERANCE * p.value)
               for c in candidates)


@dataclass
class Allowed:
    """Values a page may state without its output printing them (see ``PAGES``)."""

    where: str  # a regex the line must match: the source it names, the words around it
    values: tuple[str, ...]  # as written on the page
    why: str


@dataclass
class Derived:
    """A prose number computed from printed numbers: ``formula`` uses output numbers only."""

    where: str
    text: str
    formula: str
    why: str


@dataclass
class Elsewhere:
    """A prose number printed by another page's output (a summary of that page's result)."""

    where: str
    text: str
    page: str
    why: str


@dataclass
class Rules:
    earlier: str = ""  # a page's own marker of earlier runs, added to EARLIER
    published: list[Allowed] = field(default_factory=list)  # from papers, the note, others
    unprinted: list[Allowed] = field(default_factory=list)  # ours, but in no output (debt)
    settings: list[Allowed] = field(default_factory=list)  # settings, tolerances
    derived: list[Derived] = field(default_factory=list)
    elsewhere: list[Elsewhere] = field(default_factory=list)
    #: match each number to its place: the output of its own section, of the sections its
    #: line links to (``](#id)``), and of the sections ``summaries`` lets a section sum up
    scoped: bool = False
    summaries: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def allowed(self) -> list[Allowed]:
        return self.published + self.unprinted + self.settings


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv}


def evaluate(formula: str) -> float:
    """The value of an arithmetic ``formula`` of numbers, + - * / // and brackets."""
    def walk(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not an arithmetic formula: {formula!r}")
    return walk(ast.parse(formula, mode="eval").body)


@dataclass
class Report:
    checked: list[ProseNumber]
    unbacked: list[ProseNumber]
    used: set  # ids of the allow-list and derived entries that accepted a number
    problems: list[str]  # derived entries whose operands are not printed on the page


def check(text: str, rules: Rules = Rules()) -> Report:
    """Check the prose of the page ``text`` against its output, with the page's ``rules``."""
    pool = output_numbers(text)
    marker = re.compile(EARLIER + (f"|{rules.earlier}" if rules.earlier else ""), re.I)
    problems, used = [], set()
    for d in rules.derived:
        missing = [o for o in re.findall(r"\d+(?:\.\d+)?", d.formula) if float(o) not in pool]
        if missing:
            problems.append(f"derived {d.text} = {d.formula}: {', '.join(missing)} not printed")
    keys, pools = section_keys(text), section_pools(text)

    def place(p: ProseNumber) -> list[float]:
        """The output a number may be backed by: the whole page's, or (scoped) its place's."""
        if not rules.scoped:
            return pool
        own = keys[p.line]
        places = {own, *rules.summaries.get(own, ()),
                  *(_key(a) for a in LINKED.findall(p.context))}
        return [x for key in places for x in pools.get(key, [])]

    checked, unbacked = [], []
    for p in prose_numbers(text, marker):
        if p.earlier or p.setting or not p.measured:
            continue
        checked.append(p)
        # An entry for this number on this line decides, before the pool: a derived
        # number must equal its formula, whatever else the page prints.
        entry = next((e for e in rules.allowed()
                      if p.text in e.values and re.search(e.where, p.context)), None)
        derived = next((d for d in rules.derived
                        if d.text == p.text and re.search(d.where, p.context)), None)
        other = next((e for e in rules.elsewhere
                      if e.text == p.text and re.search(e.where, p.context)), None)
        if entry or derived or other:
            used.add(id(entry or derived or other))
            if entry or (derived and backs(evaluate(derived.formula), p)) or (other and any(
                    backs(x, p) for x in output_numbers((ROOT / other.page).read_text("utf-8")))):
                continue
        elif any(backs(x, p) for x in place(p)):
            continue
        unbacked.append(p)
    return Report(checked, unbacked, used, problems)


def describe(page: str, report: Report) -> str:
    lines = [f"{page}: {len(report.unbacked)} of {len(report.checked)} measured prose "
             f"numbers are not printed in the page's output blocks:"]
    lines += [f"  line {p.line}: {p.text}  {p.where()}" for p in report.unbacked]
    lines += [f"  {problem}" for problem in report.problems]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# 5. The pages, and what each may state without printing it
# --------------------------------------------------------------------------

GN_TABLE_2 = Allowed(
    r"GN paper|GN 论文|Wu & He|paper|论文|^\| (?:BN|GN) \|",
    ("23.6", "23.7", "24.8", "27.3", "34.7", "24.0", "24.1", "24.2"),
    "Wu & He, Group Normalization (ECCV 2018), Table 2: ResNet-50 on ImageNet, validation "
    "error (%) at 32, 16, 8, 4, 2 images per GPU; BN 23.6 23.7 24.8 27.3 34.7, GN 24.1 "
    "24.2 24.0 24.2 24.1")

PAGES: dict[str, Rules] = {
    "docs/experiments/claims.md": Rules(
        scoped=True,
        settings=[Allowed(r"interval|置信区间", ("95",),
                          "the confidence level of every interval on the page")],
        published=[
            Allowed(r"Ioffe|Inception|BN-Baseline|BN-x30",
                    ("72.2", "72.7", "74.8", "13.3", "31.0", "2.1", "14", "5", "6", "30"),
                    "Ioffe & Szegedy 2015 (arXiv:1502.03167), §4.2 and Figure 3: Inception "
                    "reaches 72.2 % in 31.0 million steps, BN-Baseline in 13.3 million (72.7 % "
                    "at best), BN-x5 in 2.1 million ('14 times fewer'); BN-x5 and BN-x30 at 5 "
                    "and 30 times the rate (74.8 %), learning-rate decay 6 times faster"),
            Allowed(r"Li et al|Li 等|李等", ("77.42", "68.55", "8.9"),
                    "Li et al. 2019 (arXiv:1801.05134), Figure 1: DenseNet on CIFAR-100, "
                    "77.42 % without dropout, 68.55 % with dropout 0.5; 8.9 their difference"),
            GN_TABLE_2,
            Allowed(r"caffenet-benchmark", ("0.474", "0.499", "0.603", "0.607", "0.584",
                                            "0.596", "0.619", "0.527", "0.513"),
                    "ducha-aiki/caffenet-benchmark, batchnorm.md: accuracy of a CaffeNet-like "
                    "network and of GoogLeNet with BN before or after ReLU, GoogLeNet without "
                    "BN; 'BN and dropout': 0.499 (dropout 0.5), 0.527 (0.2), 0.513 (none)"),
            Allowed(r"note|笔记|推理速度减慢|inference 20", ("20", "20.3"),
                    "the note: 'inference 20 % slower', from its two printed throughputs, "
                    "1 - 32546.7 / 40832.5 = 20.3 % (both printed on the reproduction page)"),
        ],
        elsewhere=[
            Elsewhere(r"SyncBatchNorm", "25", "docs/reference/sync-bn.md",
                      "per-process BN at 4 processes x 2 images, minus one process: -24.9"),
        ]),
    "docs/experiments/small-batch.md": Rules(
        published=[GN_TABLE_2], scoped=True,
        summaries={"findings": ("setup", "results", "recalibration", "batch-of-one"),
                   "gn-paper": ("results",)},
        settings=[Allowed(r"replay|重放", ("6",),
                          "the steps of each replayed run a results file keeps "
                          "(bnref.experiments.harness.sweep.REPLAY_STEPS)")]),
    "docs/experiments/reproduce.md": Rules(),
    "docs/notes/exercises.md": Rules(
        scoped=True,
        settings=[
            Allowed(r"epoch|迭代周期", ("235",),
                    "steps in one epoch: 60,000 training images at batch size 256, "
                    "ceil(60000 / 256) = 235"),
            Allowed(r"saturat|饱和", ("0.02", "0.98"),
                    "what snippets/exercises/std_only.py counts as a saturated sigmoid"),
        ]),
    "docs/notes/code.md": Rules(
        published=[
            Allowed(r"笔记|note", ("32546.7", "40832.5"),
                    "the note's two printed throughputs (examples/sec), quoted from the "
                    "chapter's output above them"),
        ]),
    "docs/notes/index.md": Rules(
        published=[
            Allowed(r"倍|times", ("100",), "the note's own sentence (d2l): '100 倍'"),
            Allowed(r"GroupNorm|Wu & He", ("23.6", "25.3", "28.4", "24.1", "10.6"),
                    "Wu & He 2018, Group Normalization: Table 1 (32 images per GPU: BN 23.6, "
                    "LN 25.3, IN 28.4, GN 24.1) and Table 2 (at 2 per GPU GN is 10.6 points "
                    "below BN: 34.7 - 24.1)"),
        ]),
    "docs/reference/errata.md": Rules(),
    "docs/practice.md": Rules(
        published=[
            Allowed(r"原论文|original paper", ("3.2",),
                    "Ioffe & Szegedy 2015 (arXiv:1502.03167), section 3.2: the bias before BN "
                    "is subtracted away"),
        ]),
    "docs/reference/sync-bn.md": Rules(
        settings=[
            Allowed(r"test|测试", ("1e-5", "1e-2"),
                    "the tests' bounds: tests/experiments/test_sync_check.py, every synchronized "
                    "difference below 1e-5, every per-process BN one but the beta grad's "
                    "above 1e-2"),
            Allowed(r"容差|tolerance", ("1e-9",),
                    "the replay's relative tolerance, bnref.experiments.harness.replay.RTOL"),
        ]),
    "docs/reference/performance.md": Rules(
        unprinted=[
            Allowed(r"single-pass|单遍和", ("0.2",),
                    "the fast variant's relative error of the variance at a mean of 500 "
                    "standard deviations, seen in the tests, not printed"),
        ],
        settings=[
            Allowed(r"MB", ("102.8",),
                    "the size of one float32 tensor of the large shape: 128 * 64 * 56 * 56 "
                    "* 4 bytes = 102.8 MB"),
            Allowed(r"test|测试", ("1e-12", "500", "1e-3"),
                    "the tests' bounds: within 1e-12 in float64; at a mean of 500 standard "
                    "deviations, a relative error below 1e-3"),
            Allowed(r"Lighthouse", ("4",), "Lighthouse's mobile emulation: 4x CPU slowdown"),
        ],
        derived=[
            Derived(r"71 ms|71 and 89", "71", "124.071 - 52.770",
                    "fast, large shape, training: default minus retained memory (ms)"),
            Derived(r"71 ms|71 and 89", "89", "143.947 - 54.526",
                    "compiled, large shape, training: default minus retained memory (ms)"),
            Derived(r"71 ms|71 and 89", "96", "157.228 - 60.817",
                    "torch, large shape, training: default minus retained memory (ms)"),
        ]),
}


def _report(page: str) -> Report:
    return check((ROOT / page).read_text(encoding="utf-8"), PAGES[page])


# --------------------------------------------------------------------------
# 6. The tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("page", sorted(PAGES))
def test_prose_numbers_are_printed(page):
    report = _report(page)
    assert report.checked, f"{page}: no measured numbers found in the prose"
    assert not report.unbacked and not report.problems, describe(page, report)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_allow_lists_are_used(page):
    """Every allowed value and derived formula still accepts a number on its page."""
    rules, report = PAGES[page], _report(page)
    unused = [f"{entry.values} ({entry.why})" for entry in rules.allowed()
              if id(entry) not in report.used]
    unused += [f"{entry.text} = {getattr(entry, 'formula', entry.__dict__.get('page'))}"
               for entry in rules.derived + rules.elsewhere if id(entry) not in report.used]
    assert not unused, f"{page}: entries that no prose number uses: {unused}"


def test_a_stale_number_is_reported_with_its_line():
    """The check fails on a page whose prose no longer matches its output: BN's error at
    batch size 2 changed from 46.2 % to 47.2 % in both columns of the findings."""
    page = "docs/experiments/small-batch.md"
    text = (ROOT / page).read_text(encoding="utf-8")
    assert "46.2 ± 3.1" in text
    stale = text.replace("BN 的测试误差 46.2 ± 3.1%", "BN 的测试误差 47.2 ± 3.1%").replace(
        "BN's test error is 46.2 ± 3.1 %", "BN's test error is 47.2 ± 3.1 %")
    lines = [n for n, line in enumerate(stale.split("\n"), 1) if "47.2 ± 3.1" in line]
    assert len(lines) == 2  # one line in each column
    report = check(stale, PAGES[page])
    assert [(p.line, p.text) for p in report.unbacked] == [(n, "47.2") for n in lines]
    message = describe(page, report)
    for n in lines:
        assert f"line {n}: 47.2" in message
    assert "⟦47.2⟧ ± 3.1" in message  # the number, marked in its surrounding text


SYNTHETIC = """\
Intro: 83.7 % and 0.912, about 300 steps, 9 ± 2 epochs, 46 % with 3 seeds at lr 0.7.

> The note: 99.9 % (a quote, not read).

Code `x = 99.9` and a [link](page.md#99.9) are not read; nor is the (previous run: 99.9 %).

```output
0.837 91.2 % 298 9 2 46.2
```
"""


def test_the_matching_rules():
    assert check(SYNTHETIC).unbacked == []
    read = [p.text for p in check(SYNTHETIC).checked]
    assert read == ["83.7", "0.912", "300", "9", "2", "46"]  # not 3 (seeds), 0.7 (lr), 99.9
    for old, new, stale, why in [
            ("83.7 %", "83.6 %", "83.6", "a percentage must round to the printed fraction"),
            ("0.912", "0.913", "0.913", "a fraction must round to the printed percentage"),
            ("about 300", "about 340", "340", "about allows 10 %: 298 is 12 % below 340"),
            ("about 300", "at 300", "300", "without about, 300 is not 298"),
            ("46 %", "45 %", "45", "46.2 rounds to 46, not 45")]:
        report = check(SYNTHETIC.replace(old, new))
        assert [p.text for p in report.unbacked] == [stale], why


PLACES = """\
## A {#a}

BN reaches 83.7 %.

```output
0.837
```

## B {#b}

The other reaches 91.2 %.

```output
0.912
```
"""


def test_a_number_is_matched_to_its_place_not_to_any_equal_value_on_the_page():
    scoped = Rules(scoped=True)
    assert check(PLACES, scoped).unbacked == []
    moved = PLACES.replace("BN reaches 83.7 %", "BN reaches 91.2 %")
    assert check(moved).unbacked == []  # the whole page prints 0.912 ...
    assert [p.text for p in check(moved, scoped).unbacked] == ["91.2"]  # ... but not section A
    # a line that links to the section it sums up, or a section declared a summary, may use it
    assert check(moved.replace("91.2 %.", "91.2 % ([B](#b)).", 1), scoped).unbacked == []
    assert check(moved, Rules(scoped=True, summaries={"a": ("b",)})).unbacked == []
    # both columns of a bilingual section are one place: {#b} and {#b-en}
    bilingual = PLACES.replace("## B {#b}", "## B {#b}\n\nZH 91.2%。\n\n## B {#b-en}")
    assert check(bilingual, scoped).unbacked == []


def test_the_claims_page_fails_when_one_number_is_changed_or_moved():
    """On the real page: a verdict's number replaced by one printed only in another section
    (moved) fails the scoped check, though the whole page prints it; replaced by a number
    printed nowhere (changed), it fails both."""
    page = "docs/experiments/claims.md"
    text = (ROOT / page).read_text(encoding="utf-8")
    rules = PAGES[page]
    keys, pools = section_keys(text), section_pools(text)
    assert not check(text, rules).unbacked
    target = next(p for p in check(text, rules).checked
                  if keys[p.line] == "placement" and p.decimals == 1 and not p.approx
                  and not p.percent and "[" in p.context)
    lines = text.split("\n")

    def with_value(value: str) -> str:
        raw = lines[target.line - 1]
        changed = raw[:target.start] + value + raw[target.end:]
        return "\n".join(lines[:target.line - 1] + [changed] + lines[target.line:])

    own = {f"{x:.1f}" for x in pools["placement"]}
    moved = next(v for key, xs in pools.items() if key != "placement"
                 for v in (f"{x:.1f}" for x in xs if 1 < x < 50)
                 if v not in own and f"{float(v) / 100:.3f}" not in
                 {f"{x:.3f}" for x in pools["placement"]})
    report = check(with_value(moved), rules)
    assert [(p.line, p.text) for p in report.unbacked] == [(target.line, moved)]
    assert check(with_value(moved), Rules(**{**rules.__dict__, "scoped": False})).unbacked == []
    nowhere = next(f"{v / 10:.1f}" for v in range(11, 500)
                   if all(abs(x - v / 10) > 0.06 and abs(100 * x - v / 10) > 0.06
                          for xs in pools.values() for x in xs))
    assert [p.text for p in check(with_value(nowhere), rules).unbacked] == [nowhere]
