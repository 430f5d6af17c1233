"""The statistics object: parameters counted once, FLOPs against the analytic count, meta == CPU."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import blockforge
from blockforge.inspect import summarize
from tests.conftest import SPEC_FILES, SPECS_DIR

TINY = SPECS_DIR / "tiny.yaml"
GPT2 = SPECS_DIR / "gpt2-small.yaml"


def test_totals_equal_unique_parameter_tensors_with_tied_embeddings():
    model = blockforge.build_model(TINY, device="meta")
    assert model.head.tied and model.head.proj is None  # the tiny spec ties its head
    unique = {id(p): p for m in model.modules() for p in m.parameters(recurse=False)}
    expected = sum(p.numel() for p in unique.values())
    # counting tensors by occurrence would count the tied embedding twice
    doubled = expected + model.embedding.weight.numel()
    s = summarize(model)
    assert s.total_params == expected != doubled
    assert s.trainable_params == expected
    assert s.bytes_by_dtype == {"float32": 4 * expected}
    assert s.rows[0].params == expected
    assert sum(k.params for k in s.kinds.values()) == expected


def test_shared_module_counted_once():
    model = blockforge.build_model(TINY, device="meta")
    model.blocks[1] = model.blocks[0]  # the same block twice: weights shared across layers
    s = summarize(model)
    assert s.total_params == sum(p.numel() for p in set(model.parameters()))
    assert s.total_params < summarize(blockforge.build_model(TINY, device="meta")).total_params


def test_frozen_parameters_are_not_trainable():
    model = blockforge.build_model(TINY, device="meta")
    model.embedding.weight.requires_grad_(False)
    s = summarize(model)
    assert s.trainable_params == s.total_params - model.embedding.weight.numel()
    assert s.memory.gradients == 4 * s.trainable_params
    assert s.memory.optimizer == 2 * s.memory.gradients


def gpt2_analytic_forward(*, tokens: int, seq: int) -> int:
    """2 x non-embedding parameters x tokens + attention (QK^T and PV, full T x T) + LM head."""
    vocab, d, layers, max_len, hidden = 50257, 768, 12, 1024, 3072
    per_layer = (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d) + 4 * d
    non_embedding = layers * per_layer + 2 * d  # + final norm
    batch = tokens // seq
    attention = layers * batch * 2 * (2 * seq * seq * d)
    head = 2 * d * vocab * tokens
    return 2 * non_embedding * tokens + attention + head


@pytest.mark.parametrize("batch,seq", [(1, 1024), (2, 128)])
def test_gpt2_small_flops_match_the_analytic_count(batch, seq):
    s = summarize(GPT2, batch=batch, seq_len=seq)
    assert s.total_params == 124_439_808
    expected = gpt2_analytic_forward(tokens=batch * seq, seq=seq)
    assert s.flops.forward == pytest.approx(expected, rel=0.01)
    # forward + backward is about 3x forward (backward: gradients of activations and of weights)
    assert s.flops.forward_backward / s.flops.forward == pytest.approx(3.0, rel=0.02)
    assert s.flops.forward_macs * 2 == s.flops.forward
    assert s.flops.tokens == batch * seq


def test_attention_flops_grow_with_the_square_of_the_sequence():
    short, long = summarize(TINY, seq_len=8), summarize(TINY, seq_len=16)
    att_short, att_long = short.kinds["attention"].flops, long.kinds["attention"].flops
    d, layers = 32, 2
    projections = lambda t: layers * 2 * t * (d * 3 * d + d * d)  # noqa: E731
    assert att_short - projections(8) == layers * 4 * 8 * 8 * d
    assert att_long - projections(16) == layers * 4 * 16 * 16 * d


def test_kinds_show_where_parameters_and_flops_go():
    s = summarize(GPT2, seq_len=64)
    assert list(s.kinds)[:6] == ["embedding", "positional", "attention", "feedforward", "norm", "head"]
    assert s.kinds["embedding"].params == 50257 * 768
    assert s.kinds["positional"].params == 1024 * 768
    assert s.kinds["attention"].params == 12 * (768 * 3 * 768 + 3 * 768 + 768 * 768 + 768)
    assert s.kinds["head"].params == 0  # tied: the weight belongs to the embedding
    assert s.kinds["head"].flops == 2 * 64 * 768 * 50257
    assert sum(k.flops for k in s.kinds.values()) == s.flops.forward


def test_kv_cache_per_token():
    s = summarize(GPT2, seq_len=8)
    assert s.memory.kv_cache_per_token == 12 * 2 * 768 * 4  # layers x (K + V) x d_model x fp32
    seed = summarize(None, seq_len=8)  # the seed is an encoder-style stack (no causal attention)
    assert seed.memory.kv_cache_per_token is None


@pytest.mark.parametrize(("spec", "expected"), [
    # layers x (K + V) x kv_heads x head_dim x fp32, read off each spec file by hand
    ("mistral-7b.yaml", 32 * 2 * 8 * 128 * 4),  # sliding window: attention takes the masked kernel path
    ("gemma2-2b.yaml", 26 * 2 * 4 * 256 * 4),  # soft-capped logits: attention takes the math path
    ("llama3-8b.yaml", 32 * 2 * 8 * 128 * 4),  # the plain causal fast path
])
def test_kv_cache_does_not_depend_on_the_attention_kernel_path(spec, expected):
    assert summarize(SPECS_DIR / spec, seq_len=8).memory.kv_cache_per_token == expected


def test_kv_cache_of_causal_attention_in_every_decoder_spec():
    """Every spec with causal self-attention reports a KV cache equal to what its layers state."""
    from blockforge import build_model
    from blockforge.components.attention import MultiHeadAttention

    for path in SPEC_FILES:
        model = build_model(path, device="meta")
        causal = [m for m in model.modules() if isinstance(m, MultiHeadAttention) and m.causal]
        kv = summarize(model, seq_len=4).memory.kv_cache_per_token
        if not causal:
            continue
        assert kv == sum(2 * m.kv_heads * m.head_dim * 4 for m in causal), path.name


def test_training_memory_adds_up():
    s = summarize(TINY, batch=2, seq_len=16)
    m = s.memory
    assert m.weights == s.total_bytes and m.gradients == m.weights and m.optimizer == 2 * m.weights
    assert m.training == m.weights + m.buffers + m.gradients + m.optimizer + m.activations
    # activations grow linearly with the batch and at least linearly with the sequence
    assert summarize(TINY, batch=4, seq_len=16).memory.activations == pytest.approx(2 * m.activations, rel=0.01)
    assert summarize(TINY, batch=2, seq_len=8).memory.activations < m.activations


def test_activations_are_measured_from_saved_tensors():
    # one Linear without bias on a (B, T, C) input saves exactly its input for the weight gradient
    class Probe(nn.Module):
        max_len = 8

        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lin = nn.Linear(4, 10, bias=False)

        def forward(self, ids):
            return self.lin(self.emb(ids))

    with torch.device("meta"):
        model = Probe()
    s = summarize(model, batch=3, seq_len=8)
    ids_bytes = 3 * 8 * 8  # int64 indices saved by the embedding
    lin_input = 3 * 8 * 4 * 4  # fp32 input of the linear layer
    log_softmax = 3 * 8 * 10 * 4  # cross-entropy saves its log-probabilities
    targets = 3 * 8 * 8
    total_weight = 4  # nll_loss's fp32 scalar
    assert s.memory.activations == ids_bytes + lin_input + log_softmax + targets + total_weight


def test_meta_summary_equals_cpu_summary():
    meta = summarize(TINY, batch=2, seq_len=12)
    cpu_model = blockforge.build_model(TINY, device="cpu", seed=0)
    cpu = summarize(cpu_model, batch=2, seq_len=12)
    assert meta.to_dict() == cpu.to_dict()
    assert cpu_model.training  # left as it was
    assert all(p.grad is None for p in cpu_model.parameters())  # and without gradients


def test_to_dict_is_json_and_complete():
    d = json.loads(json.dumps(summarize(TINY).to_dict()))
    assert d["flops"]["forward_backward"] > d["flops"]["forward"] > 0
    assert "causal" in d["flops"]["attention_convention"]
    assert set(d["memory"]) >= {"weights", "gradients", "optimizer", "activations", "kv_cache_per_token", "training"}
    assert {"name", "type", "kind", "output_shape", "params", "trainable", "flops"} <= set(d["modules"][0])


def test_probe_longer_than_max_len_is_refused():
    with pytest.raises(ValueError, match="exceeds the model's max_len=16"):
        summarize(TINY, seq_len=17)


def test_untagged_models_fall_back_to_class_and_names():
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(11, 8)
            self.ln = nn.LayerNorm(8)
            self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
            self.lm_head = nn.Linear(8, 11)

        def forward(self, ids):
            return self.lm_head(self.mlp(self.ln(self.wte(ids))))

    s = summarize(Tiny(), batch=1, seq_len=4)
    assert s.kinds["embedding"].params == 88 and s.kinds["norm"].params == 16
    assert s.kinds["feedforward"].flops == 2 * 4 * (8 * 16 + 16 * 8)
    assert s.kinds["head"].params == 8 * 11 + 11


def test_folding_repeated_layers_is_exact(tmp_path):
    from blockforge.inspect.probe import probe, repeated_stacks

    spec = tmp_path / "deep.yaml"
    spec.write_text(TINY.read_text().replace("n_layers: 2", "n_layers: 5"))
    model = blockforge.build_model(spec, device="meta")
    model.embedding.weight.requires_grad_(False)  # layer 0 then differs: its input needs no gradient
    assert list(repeated_stacks(model)) == ["blocks"]
    ids = torch.zeros(2, 16, dtype=torch.long, device="meta")
    assert probe(model, ids, fold_repeats=True) == probe(model, ids, fold_repeats=False)


def test_layers_that_differ_are_not_folded():
    from blockforge.inspect.probe import repeated_stacks

    model = blockforge.build_model(TINY, device="meta")
    model.blocks.append(blockforge.build_model(TINY, device="meta").blocks[0])
    assert list(repeated_stacks(model)) == ["blocks"]
    model.blocks[2].attention.causal = False  # a plain attribute decides what the layer computes
    assert repeated_stacks(model) == {}


def test_grouped_query_attention_caches_only_its_kv_heads(tmp_path):
    spec = tmp_path / "gqa.yaml"
    spec.write_text(
        TINY.read_text()
        .replace("positional: learned", "positional: {type: rope, theta: 500000.0}")
        .replace("{type: mha, heads: 4, causal: true}", "{type: mha, heads: 4, kv_heads: 2, causal: true}")
    )
    s = summarize(spec, batch=2, seq_len=16)
    head_dim = 32 // 4
    assert s.memory.kv_cache_per_token == 2 * 2 * (2 * head_dim) * 4  # layers x (K + V) x kv_heads*D x fp32
    # attention FLOPs still cover all 4 query heads: projections + QK^T and PV over the full T x T
    proj = 2 * 2 * 32 * (32 * 32 + 2 * 32 * 2 * head_dim + 32 * 32)  # 2 x layers x tokens x (q + kv + out)
    assert s.kinds["attention"].flops == proj + 2 * 2 * 4 * 16 * 16 * 32


def test_llama_70b_spec_on_meta():
    s = summarize(SPECS_DIR / "llama-70b.yaml", seq_len=128)
    assert s.total_params == 70_553_706_496
    assert s.memory.kv_cache_per_token == 80 * 2 * 8 * 128 * 4  # 80 layers, K+V, 8 kv heads x 128, fp32
    assert s.kinds["feedforward"].params == 80 * 3 * 8192 * 28672


#: Specs whose components take a different kernel path on meta than on CPU; there the meta and CPU
#: summaries agree on parameters and shapes, and FLOPs/activations are those of the meta path.
KERNEL_DEPENDENT = {
    # MoE routing is data-dependent: meta stands in a balanced top-k routing, CPU routes by the router, so
    # per-expert rows differ (their totals agree: test_moe_summary_counts_top_k_experts_not_all)
    "tiny-moe-parallel.yaml",
}


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.name)
def test_every_spec_summarises_on_meta_and_small_ones_equal_cpu(path):
    meta = summarize(path, batch=2, seq_len=8)
    model = blockforge.build_model(path, device="meta")
    assert meta.total_params == sum(p.numel() for p in model.parameters())
    assert meta.flops.forward_backward > meta.flops.forward > 0
    assert sum(k.params for k in meta.kinds.values()) == meta.total_params
    assert sum(k.flops for k in meta.kinds.values()) == meta.flops.forward
    if meta.total_params <= 2_000_000:
        cpu = summarize(blockforge.build_model(path, device="cpu", seed=0), batch=2, seq_len=8)
        if path.name in KERNEL_DEPENDENT:
            # (routing on CPU can leave an expert without tokens, so it has no output shape there)
            assert [(r.name, r.params) for r in cpu.rows] == [(r.name, r.params) for r in meta.rows]
            assert cpu.rows[0].output_shape == meta.rows[0].output_shape
        else:
            assert cpu.to_dict() == meta.to_dict()


MOE = SPECS_DIR / "tiny-moe-parallel.yaml"


def test_moe_summary_counts_top_k_experts_not_all():
    """FLOPs of a top-k MoE layer: 2 x tokens x k x expert matmul parameters, plus the router (exact)."""
    batch, seq = 2, 8
    s = summarize(MOE, batch=batch, seq_len=seq)
    rows = {r.name: r for r in s.rows}
    tokens, d, hidden, n_exp, top_k = batch * seq, 32, 32, 4, 2  # from the spec: 4 SwiGLU experts, top-2
    expert = 3 * d * hidden  # gate, up, down; no biases
    router = 2 * tokens * d * n_exp
    for layer in (1, 3):  # the plan puts the MoE on every other layer
        ff = f"blocks.{layer}.feedforward"
        assert rows[f"{ff}.experts"].flops == 2 * tokens * top_k * expert  # dense would be E/k = 2x this
        assert rows[f"{ff}.router"].flops == router
        assert rows[ff].flops == 2 * tokens * top_k * expert + router


def test_moe_summary_on_meta_equals_a_real_top_k_run_in_total():
    """A zero router sends every token to k experts (ties); any routing has the same N x k slots, so the
    meta summary's totals (FLOPs, activation memory) equal those of this real CPU run."""
    meta = summarize(MOE, batch=2, seq_len=8)
    model = blockforge.build_model(MOE, device="cpu", seed=0)
    with torch.no_grad():
        for layer in (1, 3):
            model.blocks[layer].feedforward.router.weight.zero_()
    cpu = summarize(model, batch=2, seq_len=8)
    assert cpu.flops.forward == meta.flops.forward
    assert cpu.flops.forward_backward == meta.flops.forward_backward
    assert cpu.memory.activations == meta.memory.activations
    assert {k: v.flops for k, v in cpu.kinds.items()} == {k: v.flops for k, v in meta.kinds.items()}
