"""Issue 12 item 7: MoE routing statistics ignore padding. A padded batch (right, left, both sides; one row or
rows of different lengths; transformer and parallel blocks, top-1 and top-2) has the load-balancing loss of
its real tokens: checked against Switch Transformer's formula computed here from the router's weights
(float64, 1e-12), and against the unpadded run (float64, 1e-10)."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from blockforge.components.moe import MixtureOfExperts
from tests.conftest import SPECS_DIR

PADS = {"right": (0, 26), "left": (26, 0), "both": (13, 13)}


def one_layer(top_k: int) -> dict:
    """The issue's input: one layer, {type: moe, experts: 4, top_k: 1, hidden: 16}."""
    return {"blockforge": 1, "model": {
        "type": "lm", "vocab_size": 50, "d_model": 16, "n_layers": 1, "max_len": 32, "positional": "rope",
        "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2, "causal": True},
                  "feedforward": {"type": "moe", "experts": 4, "top_k": top_k, "hidden": 16}}, "init_std": 0.3}}


def switch_loss(router: torch.Tensor, x: torch.Tensor, top_k: int) -> torch.Tensor:
    """Reference: ``E * sum_e f_e P_e`` (Fedus et al. 2021, eq. 4, with top-k slots) over the rows of ``x``."""
    probs = torch.softmax(x @ router.T, dim=-1)  # (N, E)
    chosen = probs.topk(top_k, dim=-1).indices.flatten()  # (N * k,)
    n_exp = router.shape[0]
    frac = torch.bincount(chosen, minlength=n_exp).to(x.dtype) / chosen.numel()
    return n_exp * (frac * probs.mean(0)).sum()


def run(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor | None):
    """The model's aux_loss and, per MoE layer, the reference loss over the real tokens it was given."""
    seen = []

    def capture(module, args, kwargs):  # noqa: ANN001, ANN202
        x = args[0].reshape(-1, args[0].shape[-1])
        real = x if mask is None else x[mask.reshape(-1).bool()]
        seen.append(switch_loss(module.router.weight, real, module.top_k))

    moes = [m for m in model.modules() if isinstance(m, MixtureOfExperts)]
    handles = [m.register_forward_pre_hook(capture, with_kwargs=True) for m in moes]
    try:
        with torch.no_grad():
            model(ids, mask)
    finally:
        for h in handles:
            h.remove()
    return model.aux_loss(), torch.stack(seen).sum()


def padded(ids: torch.Tensor, left: int, right: int) -> tuple[torch.Tensor, torch.Tensor]:
    b, t = ids.shape
    out = torch.zeros(b, left + t + right, dtype=ids.dtype)
    mask = torch.zeros_like(out)
    out[:, left:left + t], mask[:, left:left + t] = ids, 1
    return out, mask


@pytest.mark.parametrize("pad", list(PADS))
@pytest.mark.parametrize("top_k", [1, 2])
def test_padding_takes_no_part_in_routing_statistics(pad, top_k):
    model = build_model(one_layer(top_k), seed=0, dtype=torch.float64).eval()
    ids = torch.randint(1, 50, (1, 6), generator=torch.Generator().manual_seed(0))
    alone, alone_ref = run(model, ids, None)
    ids_p, mask = padded(ids, *PADS[pad])
    with_pads, ref = run(model, ids_p, mask)
    assert torch.allclose(alone, alone_ref, rtol=0, atol=1e-12)
    assert torch.allclose(with_pads, ref, rtol=0, atol=1e-12)
    assert torch.allclose(with_pads, alone, rtol=0, atol=1e-10)  # padding changed 1.5875 to 2.7589 before


def test_rows_of_different_lengths_in_parallel_blocks_count_real_tokens_only():
    """tiny-moe-parallel: parallel blocks, top-2 MoE on every other layer; one row padded left, one right."""
    model = build_model(SPECS_DIR / "tiny-moe-parallel.yaml", seed=0, dtype=torch.float64).eval()
    ids = torch.randint(1, 97, (2, 16), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0
    mask[1, 12:] = 0
    aux, ref = run(model, ids, mask)
    assert torch.allclose(aux, ref, rtol=0, atol=1e-12)


def test_an_all_padding_batch_has_no_routing_loss():
    model = build_model(one_layer(1), seed=0, dtype=torch.float64).eval()
    ids = torch.randint(1, 50, (2, 8))
    with torch.no_grad():
        model(ids, torch.zeros_like(ids))
    assert model.aux_loss().item() == 0.0
