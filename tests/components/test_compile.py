"""``torch.compile(model, fullgraph=True)`` runs tiny decoder-only and encoder-only specs (no graph breaks)
and matches eager to 1e-5 in float32."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from tests.conftest import SPECS_DIR


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny-llama.yaml", "tiny-bert.yaml"])
def test_compile_fullgraph(name):
    torch._dynamo.reset()
    model = build_model(SPECS_DIR / name, seed=0).eval()
    ids = torch.randint(0, 97, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 9:] = 0
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        got = compiled(ids, mask)
        want = model(ids, mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
