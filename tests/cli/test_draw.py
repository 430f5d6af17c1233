"""``blockforge draw``: the picture's structure (from the resolved plan), its text boxes, and that it renders."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from blockforge.figure import layers_text, pattern_text, text_width
from tests.cli.helpers import invoke

SPECS = Path(__file__).resolve().parents[2] / "specs"
SMALL = ["tiny-gemma2", "tiny-moe-parallel", "tiny-encoder-decoder", "hybrid-lstm-attention", "tiny-bert"]
"""One of each: sandwich norms and a plan, parallel blocks and MoE, post-norm encoder-decoder, a hybrid, an encoder."""
NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each of :data:`SMALL` drawn once as SVG (the build and probe are the slow part)."""
    folder = tmp_path_factory.mktemp("draw")
    return {name: _draw(folder, SPECS / f"{name}.yaml", ".svg") for name in SMALL}


def _draw(tmp_path: Path, spec: Path, suffix: str) -> Path:
    out = tmp_path / f"{spec.stem}{suffix}"
    result = invoke("--no-plugins", "draw", str(spec), "-o", str(out), "--seq-len", "4")
    assert result.exit_code == 0, result.output
    return out


def _boxes(root: ET.Element) -> list[tuple[ET.Element, list[ET.Element]]]:
    return [(g.find("s:rect", NS), g.findall("s:text", NS)) for g in root.iter(f"{{{NS['s']}}}g")
            if g.get("class") == "part"]


@pytest.mark.parametrize("name", SMALL)
def test_svg_structure_follows_the_plan_and_text_fits(drawn: dict[str, Path], name: str) -> None:
    from blockforge.spec import load_spec

    spec = SPECS / f"{name}.yaml"
    root = ET.parse(drawn[name]).getroot()
    texts = [t.text or "" for t in root.iter(f"{{{NS['s']}}}text")]
    plan = load_spec(spec).plan
    headers = [t for t in texts if " block × " in t]
    stacks = [t for t in texts if " layers · pattern [" in t]
    # every layer of every stack is in exactly one group; the resolved plan's distinct blocks each once
    assert sum(int(h.rsplit("× ", 1)[1]) for h in headers) == sum(int(t.split(": ")[1].split()[0]) for t in stacks)
    for stack in plan.stacks:
        assert any(t.startswith(f"{stack.name if stack.name != 'layers' else 'blocks'}: {len(stack)} layers")
                   or f": {len(stack)} layers · pattern" in t for t in stacks)
        assert len({repr(sorted(layer.params.items())) for layer in stack.layers}) <= len(headers)
    for rect, lines in _boxes(root):  # every text line inside its box, by DejaVu Sans advances
        x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        for t in lines:
            size, bold = float(t.get("font-size")), t.get("font-weight") == "bold"
            tw = text_width(t.text or "", size, bold=bold)
            cx, ty = float(t.get("x")), float(t.get("y"))
            assert x <= cx - tw / 2 and cx + tw / 2 <= x + w, (t.text, tw, w)
            assert y < ty - size * 0.7 and ty <= y + h, t.text
    assert any("params" in t for t in texts) and any("FLOPs/token" in t for t in texts)


def test_gemma_pattern_norms_and_residuals(drawn: dict[str, Path]) -> None:
    root = ET.parse(drawn["tiny-gemma2"]).getroot()
    texts = [t.text or "" for t in root.iter(f"{{{NS['s']}}}text")]
    assert "blocks: 4 layers · pattern [local, global] × 2" in texts
    assert "local: transformer block × 2" in texts and "layers 0, 2" in texts
    # sandwich norms: per block attn_norm, attn_post_norm, ff_norm, ff_post_norm; two residual adds each
    assert sum(t == "attn_post_norm: rmsnorm" for t in texts) == 2
    assert len([c for c in root.iter(f"{{{NS['s']}}}circle") if c.get("class") == "add"]) == 4
    assert any("window 4" in t for t in texts)


def test_png_renders_the_svg(tmp_path: Path, drawn: dict[str, Path]) -> None:
    pytest.importorskip("cairosvg", reason="the dev set-up installs cairosvg")
    png = _draw(tmp_path, SPECS / "tiny-moe-parallel.yaml", ".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import struct

    width, height = struct.unpack(">II", png[16:24])
    svg = ET.parse(drawn["tiny-moe-parallel"]).getroot()
    assert (width, height) == (round(2 * float(svg.get("width"))), round(2 * float(svg.get("height"))))
    assert len(png) > 20_000  # boxes and text, not an empty canvas


def test_mermaid_and_bad_suffix(tmp_path: Path) -> None:
    text = _draw(tmp_path, SPECS / "hybrid-lstm-attention.yaml", ".mmd").read_text()
    assert text.startswith("flowchart TD\n")
    assert "pattern [recurrent × 3, A] × 2" in text and "attention: lstm" in text
    assert text.count("subgraph") == text.count("  end") and text.count("((+))") == 4
    result = invoke("draw", str(SPECS / "tiny.yaml"), "-o", str(tmp_path / "arch.pdf"))  # refused before building
    assert result.exit_code == 2 and ".svg" in result.output


def test_pattern_and_layer_text() -> None:
    assert pattern_text(["A"] * 32) == "[A] × 32"
    assert pattern_text(["l", "g"] * 13) == "[l, g] × 13"
    assert pattern_text(["A"] * 5 + ["B"]) == "[A × 5, B]"
    assert layers_text([0, 1, 2, 3]) == "0–3"
    assert layers_text(list(range(0, 32, 2))) == "0, 2, …, 30"
    assert layers_text([1, 5]) == "1, 5"
