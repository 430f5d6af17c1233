"""The builder: the seed's parameter count, determinism, meta builds, tying, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blockforge.build import build_model
from blockforge.errors import SpecError
from tests.conftest import SPECS_DIR

SEED = SPECS_DIR / "seed.yaml"
TINY = SPECS_DIR / "tiny.yaml"


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_seed_has_exactly_the_guides_parameter_count():
    model = build_model(SEED, device="meta")
    assert n_params(model) == 50_199_354


def test_default_spec_is_the_seed():
    model = build_model(None, device="meta")
    assert n_params(model) == 50_199_354
    assert model.blockforge_hash == build_model(SEED, device="meta").blockforge_hash


def test_seed_parameter_count_matches_the_guides_own_code():
    # The guide's construction, counted from its layer sizes (embedding, 6 blocks, fc_out).
    e, h, ff, n, v = 512, 8, 2048, 6, 30522
    attn = 4 * (e * e + e)
    block = attn + 2 * (2 * e) + (e * ff + ff) + (ff * e + e)
    assert v * e + n * block + (e * v + v) == n_params(build_model(SEED, device="meta"))


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (build_model(TINY, seed=s) for s in (7, 7, 8))
    for (name, pa), (_, pb), (_, pc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_building_does_not_disturb_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(TINY, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_forward_shapes_and_padding_mask():
    model = build_model(TINY).eval()
    ids = torch.randint(0, 97, (3, 10))
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[2, 6:] = 0
    logits = model(ids, mask)
    assert logits.shape == (3, 10, 97)
    assert torch.isfinite(logits).all()
    # padding after a token does not change that token's logits (causal model, right padding)
    alone = model(ids[2:3, :6])
    torch.testing.assert_close(logits[2, :6], alone[0], atol=1e-5, rtol=0)


def test_sequence_longer_than_max_len_is_a_clear_error():
    model = build_model(TINY)
    with pytest.raises(ValueError, match="sequence length 17 exceeds max_len=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_meta_build_allocates_nothing():
    model = build_model(SEED, device="meta")
    assert all(p.is_meta for p in model.parameters())


def test_tied_head_shares_the_embedding_and_counts_once():
    model = build_model(TINY)
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith("head.") for n in names)
    spec = dict(model.blockforge_spec)
    spec["model"] = {**spec["model"], "head": {"type": "lm", "tied": False}}
    untied = build_model(spec)
    assert n_params(untied) - n_params(model) == 97 * 32


def test_init_std_reaches_every_weight_matrix_and_table():
    model = build_model(TINY, seed=0)
    assert model.blockforge_spec["model"]["init_std"] == 0.02
    norms = {n for n, m in model.named_modules() if isinstance(m, (nn.LayerNorm, nn.RMSNorm))}
    for name, p in model.named_parameters():
        owner = name.rsplit(".", 1)[0]
        if owner in norms:
            continue
        if p.dim() >= 2:  # linear weights, token and position tables: N(0, 0.02); >= 512 samples each
            assert p.std().item() == pytest.approx(0.02, rel=0.15), name
            assert abs(p.mean().item()) < 0.01, name
        else:  # biases start at zero
            assert torch.count_nonzero(p) == 0, name


def test_dtype():
    model = build_model(TINY, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(torch.zeros(1, 4, dtype=torch.long)).dtype == torch.float64


def test_invalid_spec_raises_spec_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(TINY.read_text().replace("heads: 4", "heads: 5"))
    with pytest.raises(SpecError, match="not divisible"):
        build_model(p)


def test_the_model_carries_its_canonical_spec():
    model = build_model(TINY, device="meta")
    assert model.blockforge_spec["model"]["block"]["attention"]["heads"] == 4
    assert build_model(model.blockforge_spec, device="meta").blockforge_hash == model.blockforge_hash


def test_cross_attention_in_the_wrong_place_is_a_located_contract_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(TINY.read_text().replace("{type: mha, heads: 4, causal: true}", "{type: cross_mha, heads: 4}"))
    with pytest.raises(SpecError, match=r"bad.yaml:\d+:\d+: model.block.attention: attention component 'cross_mha' "
                       r"\(from builtins\) attends to an encoder output"):
        build_model(p)


def test_new_model_kinds_return_what_their_head_returns():
    bert = build_model(SPECS_DIR / "tiny-bert.yaml").eval()
    ids = torch.randint(0, 97, (2, 6))
    probs = bert(ids, torch.ones(2, 6), token_types=torch.zeros(2, 6, dtype=torch.long))
    assert probs.shape == (2, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    encdec = build_model(SPECS_DIR / "tiny-encoder-decoder.yaml").eval()
    out = encdec(ids, decoder_ids=ids[:, :4])
    assert out.shape == (2, 4, 97)


def test_moe_model_exposes_its_load_balancing_loss():
    model = build_model(SPECS_DIR / "tiny-moe-parallel.yaml")
    assert model.aux_loss() is None  # nothing routed yet
    model(torch.randint(0, 97, (2, 8)))
    loss = model.aux_loss()
    per_layer = [b.feedforward.aux_loss for b in model.blocks if hasattr(b.feedforward, "aux_loss")]
    assert len(per_layer) == 2  # the plan puts a MoE on every other of the 4 layers
    assert loss is not None and loss.dim() == 0
    torch.testing.assert_close(loss, per_layer[0] + per_layer[1])


def test_kv_heads_that_do_not_divide_heads_are_a_contract_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(TINY.read_text().replace("{type: mha, heads: 4, causal: true}",
                                          "{type: mha, heads: 4, kv_heads: 3, causal: true}"))
    with pytest.raises(SpecError, match="kv_heads=3 does not divide heads=4"):
        build_model(p)


def test_meta_construction_skips_random_fills():
    """Construction on meta must not run torch's Python reference of normal_ (which imports
    torch._dynamo and hundreds of modules); initialisation happens once, after materialising."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from blockforge.build import build_model\n"
        "build_model('specs/seed.yaml', device='meta')\n"
        "m = build_model('specs/tiny.yaml')\n"
        "assert all(bool(p.isfinite().all()) for p in m.parameters())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=SEED.parent.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
