"""Pictures of a :class:`~blockforge.inspect.diagram.Diagram`: SVG (for papers), PNG, Mermaid (for Markdown).

The SVG is laid out here, top to bottom: the input, each top-level part (embedding, positional
encoding, final norm, head), and each stack as a frame holding its distinct blocks side by side. A
block shows its sublayers in order, every residual connection as a skip line into a ``+``, norms
where they act (before the sublayer, after it, or after the add), parallel branches side by side, and
the layers it covers; the stack states the plan's pattern. Every box carries its parameters and
forward FLOPs per token. Text is real SVG text (editable, searchable); box sizes come from the
DejaVu Sans advance widths (wider than Helvetica and Arial), so text fits whichever of them renders.

Torch-free: everything here reads the plain diagram object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from blockforge.inspect.diagram import BlockGroup, Diagram, Part, StackPart

FONT = "Helvetica, Arial, 'DejaVu Sans', sans-serif"

#: Advance widths (em) of DejaVu Sans, the widest of the fonts :data:`FONT` names.
_WIDTHS = {
    **dict.fromkeys("0123456789", 0.636), " ": 0.318, ".": 0.318, ",": 0.318, ":": 0.337, ";": 0.337,
    "(": 0.390, ")": 0.390, "[": 0.390, "]": 0.390, "-": 0.361, "_": 0.500, "/": 0.337, "×": 0.838,
    "·": 0.318, "=": 0.838, "+": 0.838, "%": 0.950, "'": 0.275, '"': 0.460, "…": 1.0, "–": 0.5, "→": 0.838,
    "a": 0.613, "b": 0.635, "c": 0.550, "d": 0.635, "e": 0.615, "f": 0.352, "g": 0.635, "h": 0.634,
    "i": 0.278, "j": 0.278, "k": 0.579, "l": 0.278, "m": 0.974, "n": 0.634, "o": 0.612, "p": 0.635,
    "q": 0.635, "r": 0.411, "s": 0.521, "t": 0.392, "u": 0.634, "v": 0.592, "w": 0.818, "x": 0.592,
    "y": 0.592, "z": 0.525, "A": 0.684, "B": 0.686, "C": 0.698, "D": 0.770, "E": 0.632, "F": 0.575,
    "G": 0.775, "H": 0.752, "I": 0.295, "J": 0.295, "K": 0.656, "L": 0.557, "M": 0.863, "N": 0.748,
    "O": 0.787, "P": 0.603, "Q": 0.787, "R": 0.695, "S": 0.635, "T": 0.611, "U": 0.732, "V": 0.684,
    "W": 0.989, "X": 0.685, "Y": 0.611, "Z": 0.685,
}


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated rendered width of ``text`` in px at font ``size`` (DejaVu Sans advances; bold +10%)."""
    w = sum(_WIDTHS.get(c, 0.7) for c in text) * size
    return w * 1.1 if bold else w


#: Fill colours by component kind (the usual colours of Transformer figures).
COLOURS = {
    "attention": "#fbd7b0", "feedforward": "#c9e2f5", "norm": "#fdf1b8", "embedding": "#f6cbd6",
    "positional": "#e3d5f3", "head": "#cfe9d4", "block": "#f4f4f4",
}
_OTHER = "#e8e8e8"
TITLE, DETAIL, STATS = 12.5, 10.5, 10.0  # font sizes (px)
PAD, GAP, SKIP, PLUS_R = 7.0, 16.0, 24.0, 8.0


def layers_text(layers: Sequence[int]) -> str:
    """``[0, 1, 2, 3]`` -> ``0–3``; ``[0, 2, 4, 6]`` -> ``0, 2, …, 6``; few layers listed."""
    if len(layers) == 1:
        return str(layers[0])
    steps = {b - a for a, b in zip(layers, layers[1:], strict=False)}
    if steps == {1}:
        return f"{layers[0]}–{layers[-1]}"
    if len(layers) > 4 and len(steps) == 1:
        return f"{layers[0]}, {layers[1]}, …, {layers[-1]}"
    if len(layers) <= 6:
        return ", ".join(map(str, layers))
    return f"{', '.join(map(str, layers[:4]))}, … ({len(layers)} layers)"


def pattern_text(labels: Sequence[str]) -> str:
    """The layers' block labels, compressed: ``[local, global] × 13``, ``[A] × 32``, ``[A × 31, B]``."""
    n = len(labels)
    period = next(p for p in range(1, n + 1) if n % p == 0 and all(labels[i] == labels[i % p] for i in range(n)))
    runs: list[list[object]] = []
    for label in labels[:period]:
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1  # type: ignore[operator]
        else:
            runs.append([label, 1])
    inner = ", ".join(str(lab) if c == 1 else f"{lab} × {c}" for lab, c in runs)
    return f"[{inner}] × {n // period}" if n // period > 1 else f"[{inner}]"


def human_count(n: float) -> str:
    """``52_800`` -> ``52.8K``, ``8.03e9`` -> ``8.03B``: three significant digits, SI-style suffixes."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            v = n / scale
            return f"{v:.3g}{suffix}" if v < 1000 else f"{v:.0f}{suffix}"
    return f"{n:.3g}" if n != int(n) else str(int(n))


def _stats(params: int, flops: int, tokens: int, suffix: str = "") -> str:
    bits = [f"{human_count(params)} params{suffix}" if params else "no params"]
    if flops:
        bits.append(f"{human_count(flops / tokens)} FLOPs/token{suffix}")
    return " · ".join(bits)


def _wrap(words: Sequence[str], width: float, size: float) -> list[str]:
    """Join ``words`` with `` · `` into lines no wider than ``width`` (a word too long stands alone)."""
    lines: list[str] = []
    for w in words:
        if lines and text_width(f"{lines[-1]} · {w}", size) <= width:
            lines[-1] = f"{lines[-1]} · {w}"
        else:
            lines.append(w)
    return lines


@dataclass
class _Box:
    """A box's text lines, each ``(text, size, bold, colour)``."""

    lines: list[tuple[str, float, bool, str]]
    fill: str

    def width(self) -> float:
        return max(text_width(t, s, bold=b) for t, s, b, _ in self.lines) + 2 * PAD

    def height(self) -> float:
        return 2 * PAD + sum(s * 1.3 for _, s, _, _ in self.lines)


def _title(p: Part) -> str:
    """``attn_norm: rmsnorm``: the module's name (as in the state dict) and its component."""
    return f"{p.path.rsplit('.', 1)[-1]}: {p.component}"


def _part_box(p: Part, tokens: int, width: float | None) -> _Box:
    lines = [(_title(p), TITLE, True, "#111")]
    if p.details:
        room = (width - 2 * PAD) if width else max(text_width(d, DETAIL) for d in p.details) * 2.2
        lines += [(t, DETAIL, False, "#333") for t in _wrap(p.details, room, DETAIL)]
    lines.append((_stats(p.params, p.flops, tokens), STATS, False, "#555"))
    return _Box(lines, COLOURS.get(p.kind or "", _OTHER))


@dataclass
class Svg:
    """SVG elements being laid out, and the text boxes (for checks: every text inside its box)."""

    elements: list[str] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0

    def rect(self, x: float, y: float, w: float, h: float, fill: str, *, dashed: bool = False,
             stroke: str = "#444", rx: float = 5.0, cls: str = "box") -> None:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        self.elements.append(f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                             f'rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="1"{dash}/>')

    def text(self, x: float, y: float, s: str, size: float, *, bold: bool = False, colour: str = "#111",
             anchor: str = "middle") -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.elements.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{weight} fill="{colour}" '
                             f'text-anchor="{anchor}">{escape(s)}</text>')

    def line(self, points: Sequence[tuple[float, float]], *, arrow: bool = True) -> None:
        d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        end = ' marker-end="url(#arrow)"' if arrow else ""
        self.elements.append(f'<polyline points="{d}" fill="none" stroke="#333" stroke-width="1.2"{end}/>')

    def plus(self, cx: float, cy: float) -> None:
        self.elements.append(f'<circle class="add" cx="{cx:.1f}" cy="{cy:.1f}" r="{PLUS_R}" fill="white" '
                             'stroke="#333" stroke-width="1.2"/>')
        self.elements.append(f'<path d="M{cx - 4.5:.1f},{cy:.1f} h9 M{cx:.1f},{cy - 4.5:.1f} v9" stroke="#333" '
                             'stroke-width="1.4"/>')

    def box(self, b: _Box, cx: float, y: float, w: float) -> float:
        """Draw ``b`` centred on ``cx`` from ``y``, ``w`` wide; returns its bottom."""
        h = b.height()
        self.elements.append('<g class="part">')
        self.rect(cx - w / 2, y, w, h, b.fill)
        ty = y + PAD
        for t, size, bold, colour in b.lines:
            ty += size * 1.3
            self.text(cx, ty - size * 0.3, t, size, bold=bold, colour=colour)
        self.elements.append("</g>")
        return y + h

    def render(self, title: str) -> str:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
                f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" font-family="{FONT}">')
        defs = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/>'
                '</marker></defs>')
        return "\n".join([head, f"<title>{escape(title)}</title>", defs,
                          f'<rect width="100%" height="100%" fill="white"/>', *self.elements, "</svg>", ""])


def _chain_width(parts: Sequence[Part], tokens: int) -> float:
    return max((_part_box(p, tokens, None).width() for p in parts), default=0.0)


def _group_width(g: BlockGroup, tokens: int) -> float:
    inner = 0.0
    for r in g.residuals or []:
        k = max(len(r.branches), 1)
        widest = max((_chain_width(b, tokens) for b in r.branches), default=0.0)
        inner = max(inner, widest * k + GAP * (k - 1), _chain_width(r.before, tokens),
                    _chain_width([r.after] if r.after else [], tokens))
    inner = max(inner, _chain_width(g.sublayers, tokens))
    width = max(inner + 2 * SKIP, 220.0)
    header = max(text_width(t, s, bold=b) for t, s, b, _ in _group_header(g, tokens, width))
    return max(width, header + 2 * PAD)


def _group_header(g: BlockGroup, tokens: int, width: float) -> list[tuple[str, float, bool, str]]:
    n = len(g.layers)
    lines = [(f"{g.label}: {g.block.component} block × {n}", TITLE, True, "#111"),
             (f"layer{'s' if n > 1 else ''} {layers_text(g.layers)}", DETAIL, False, "#333")]
    lines += [(t, DETAIL, False, "#333") for t in _wrap(g.block.details, width - 2 * PAD, DETAIL)]
    lines.append((_stats(g.block.params, g.block.flops, tokens, " per layer"), STATS, False, "#555"))
    return lines


def _draw_chain(svg: Svg, parts: Sequence[Part], cx: float, y: float, w: float, tokens: int) -> float:
    for p in parts:
        svg.line([(cx, y), (cx, y + GAP)])
        y = svg.box(_part_box(p, tokens, w), cx, y + GAP, w)
    return y


def _draw_group(svg: Svg, g: BlockGroup, x: float, y: float, w: float, tokens: int) -> float:
    """One distinct block in a dashed frame; returns its bottom. The data enter at the top centre."""
    cx = x + w / 2
    top = y
    start = len(svg.elements)
    ty = y + PAD
    for t, size, bold, colour in _group_header(g, tokens, w):
        ty += size * 1.3
        svg.text(x + PAD, ty - size * 0.3, t, size, bold=bold, colour=colour, anchor="start")
    y = ty + PAD
    box_w = w - 2 * SKIP
    if g.residuals is None:
        y = _draw_chain(svg, g.sublayers, cx, y, box_w, tokens)
    for r in g.residuals or []:
        split = y + GAP / 2
        svg.line([(cx, y), (cx, split)], arrow=False)
        svg.elements.append(f'<circle cx="{cx:.1f}" cy="{split:.1f}" r="2.5" fill="#333"/>')
        y = _draw_chain(svg, r.before, cx, split, box_w, tokens) if r.before else split
        k = len(r.branches)
        bw = (box_w - GAP * (k - 1)) / k
        ends = []
        for i, branch in enumerate(r.branches):
            bx = cx - box_w / 2 + bw / 2 + i * (bw + GAP)
            if bx != cx:
                svg.line([(cx, y), (bx, y)], arrow=False)
            ends.append((bx, _draw_chain(svg, branch, bx, y, bw, tokens) if branch else y))
        plus = max(e for _, e in ends) + GAP + PLUS_R
        for bx, e in ends:
            svg.line([(bx, e), (bx, plus - PLUS_R)] if bx == cx else [(bx, e), (bx, plus), (cx + (PLUS_R if bx > cx else -PLUS_R), plus)])
        skip_x = x + SKIP / 2
        svg.line([(cx, split), (skip_x, split), (skip_x, plus), (cx - PLUS_R, plus)])
        svg.plus(cx, plus)
        y = plus + PLUS_R
        if r.after is not None:
            y = _draw_chain(svg, [r.after], cx, y, box_w, tokens)
    y += GAP
    svg.elements.insert(start, f'<rect class="frame" x="{x:.1f}" y="{top:.1f}" width="{w:.1f}" '
                               f'height="{y - top:.1f}" rx="8" fill="{COLOURS["block"]}" stroke="#888" '
                               'stroke-dasharray="5 3"/>')
    return y


def _stack_header(s: StackPart, tokens: int) -> list[tuple[str, float, bool, str]]:
    return [(f"{s.path}: {s.n_layers} layers · pattern {pattern_text(s.pattern)}", TITLE, True, "#111"),
            (_stats(s.params, s.flops, tokens), STATS, False, "#555")]


def to_svg(d: Diagram) -> str:
    """The diagram as a standalone SVG document (white background, real text)."""
    tokens = max(d.tokens, 1)
    top_w = max([_part_box(p, tokens, None).width() for p in d.parts if not hasattr(p, "groups")] + [240.0])
    group_ws = {id(s): [_group_width(g, tokens) for g in s.groups] for s in d.parts if hasattr(s, "groups")}
    stack_ws = {k: max(sum(ws) + GAP * (len(ws) + 1),
                       max(text_width(t, sz, bold=b) for t, sz, b, _ in _stack_header(s, tokens)) + 2 * PAD)
                for s in d.parts if hasattr(s, "groups") for k, ws in [(id(s), group_ws[id(s)])]}
    title = f"{d.name or 'model'} ({d.model})"
    sub = (f"{human_count(d.total_params)} parameters · {human_count(d.flops / tokens)} forward FLOPs per token "
           f"at (batch, seq_len) = {tuple(d.input_shape)}")
    width = max([top_w, *stack_ws.values(), text_width(title, 15, bold=True), text_width(sub, DETAIL)]) + 40
    svg = Svg(width=width)
    cx = width / 2
    svg.text(cx, 28, title, 15, bold=True)
    svg.text(cx, 46, sub, DETAIL, colour="#444")
    svg.text(cx, 76, "token ids (batch, seq_len)", DETAIL, colour="#333")
    y = 82.0
    for p in d.parts:
        svg.line([(cx, y), (cx, y + GAP)])
        y += GAP
        if not hasattr(p, "groups"):
            y = svg.box(_part_box(p, tokens, top_w), cx, y, top_w)
            continue
        sw = stack_ws[id(p)]
        x0, top = cx - sw / 2, y
        start = len(svg.elements)
        ty = y + PAD
        for t, size, bold, colour in _stack_header(p, tokens):
            ty += size * 1.3
            svg.text(x0 + PAD, ty - size * 0.3, t, size, bold=bold, colour=colour, anchor="start")
        gy = ty + PAD
        ws = group_ws[id(p)]
        gx = cx - (sum(ws) + GAP * (len(ws) - 1)) / 2
        bottom = gy
        for g, gw in zip(p.groups, ws, strict=True):
            bottom = max(bottom, _draw_group(svg, g, gx, gy, gw, tokens))
            gx += gw + GAP
        y = bottom + GAP / 2
        svg.elements.insert(start, f'<rect class="frame" x="{x0:.1f}" y="{top:.1f}" width="{sw:.1f}" '
                                   f'height="{y - top:.1f}" rx="10" fill="white" stroke="#555"/>')
    svg.line([(cx, y), (cx, y + GAP)])
    svg.text(cx, y + GAP + 14, "output", DETAIL, colour="#333")
    svg.height = y + GAP + 30
    return svg.render(title)


def to_png(d: Diagram, *, scale: float = 2.0) -> bytes:
    """The SVG rendered to PNG (``scale`` x its size) with cairosvg.

    Raises:
        ImportError: cairosvg (or the cairo library it loads) is not installed.
    """
    import cairosvg

    return cairosvg.svg2png(bytestring=to_svg(d).encode(), scale=scale)


def _mm(s: str) -> str:
    return s.replace('"', "#quot;")


def to_mermaid(d: Diagram) -> str:
    """The diagram as a Mermaid flowchart (paste into Markdown inside a ```` ```mermaid ```` fence)."""
    tokens = max(d.tokens, 1)
    lines = ["flowchart TD", '  input["token ids (batch, seq_len)"]']
    prev = "input"
    n = 0

    def node(p: Part, indent: str) -> str:
        nonlocal n
        n += 1
        text = "<br/>".join([f"<b>{_title(p)}</b>", *([" · ".join(p.details)] if p.details else []),
                             _stats(p.params, p.flops, tokens)])
        lines.append(f'{indent}n{n}["{_mm(text)}"]')
        return f"n{n}"

    for p in d.parts:
        if not hasattr(p, "groups"):
            cur = node(p, "  ")
            lines.append(f"  {prev} --> {cur}")
            prev = cur
            continue
        sid = f"s{n}"
        n += 1
        lines.append(f'  subgraph {sid}["{_mm(_stack_header(p, tokens)[0][0])}"]')
        lines.append("    direction LR")
        for g in p.groups:
            gid = f"g{n}"
            n += 1
            label = f"{g.label}: {g.block.component} block × {len(g.layers)} (layers {layers_text(g.layers)})"
            lines.append(f'    subgraph {gid}["{_mm(label)}"]')
            lines.append("      direction TB")
            last = f"{gid}_in"
            lines.append(f"      {last}(( ))")
            wiring = ([(r.before, r.branches, r.after) for r in g.residuals] if g.residuals is not None
                      else [([], [g.sublayers], None)])
            for before, branches, after in wiring:
                chain_in = last
                for q in before:
                    cur = node(q, "      ")
                    lines.append(f"      {chain_in} --> {cur}")
                    chain_in = cur
                add = f"a{n}"
                n += 1
                lines.append(f"      {add}((+))" if g.residuals else f"      {add}(( ))")
                for branch in branches:
                    b_prev = chain_in
                    for q in branch:
                        cur = node(q, "      ")
                        lines.append(f"      {b_prev} --> {cur}")
                        b_prev = cur
                    lines.append(f"      {b_prev} --> {add}")
                if g.residuals:
                    lines.append(f"      {last} -. residual .-> {add}")
                last = add
                if after is not None:
                    cur = node(after, "      ")
                    lines.append(f"      {add} --> {cur}")
                    last = cur
            lines.append("    end")
        lines.append("  end")
        lines.append(f"  {prev} --> {sid}")
        prev = sid
    lines.append('  output["output"]')
    lines.append(f"  {prev} --> output")
    return "\n".join(lines) + "\n"


__all__ = ["layers_text", "pattern_text", "text_width", "to_mermaid", "to_png", "to_svg"]
