"""Parity with the real transformers implementation, offline: random-initialised transformers models
built from tiny configs, converted to blockforge, compared on logits and loss.

Tolerances: float32 logits max abs diff <= 1e-4, float64 <= 1e-10; losses agree to the same bounds
(transformers' own ``.loss`` is computed in float32 even for float64 models: 1e-5 against that).
"""

from __future__ import annotations

import pytest

transformers = pytest.importorskip(
    "transformers", reason="the hf extra is not installed (pip install 'blockforge[hf]'); CI installs it"
)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from blockforge.build import build_model  # noqa: E402
from blockforge.interop import config_to_spec, from_hf_model, load_hf_state_dict  # noqa: E402
from tests.interop.families import FAMILIES, MAX_LEN, VOCAB  # noqa: E402

TOL = {torch.float32: 1e-4, torch.float64: 1e-10}
DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]


def hf_model(family: str, dtype: torch.dtype, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = FAMILIES[family].make(**overrides)
    perturb_norms(model)
    model = model.to(dtype).eval()
    if dtype == torch.float64:
        full_precision_rmsnorm(model)
        full_precision_gemma2(model)
    return model


def perturb_norms(model) -> None:
    """Norm weights start constant (ones; zeros for Gemma's ``1 + w``), under which a wrong scale form
    or two norms swapped in the mapping (Gemma 2 has four per layer) would go unnoticed; they are
    perturbed here (the global RNG, seeded by the caller)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name.lower() or "ln_" in name):
                p.add_(torch.randn_like(p) * 0.2)


def full_precision_rmsnorm(model) -> None:
    """transformers' Llama-family RMSNorm computes in float32 even for float64 inputs
    (``hidden_states.to(torch.float32)``), so its float64 models are only float32-accurate there. For
    the float64 comparison the reference's RMSNorm runs the same formula in the input's dtype
    (Gemma 2's with its ``1 + w`` scale)."""
    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    def gemma_forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + self.weight)

    for m in model.modules():
        if type(m).__name__ in ("Gemma2RMSNorm", "GemmaRMSNorm"):
            m.forward = gemma_forward.__get__(m)
        elif type(m).__name__.endswith("RMSNorm"):
            m.forward = forward.__get__(m)


def full_precision_eager_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                                   softcap=None, **kwargs):
    """transformers' eager attention (``modeling_gemma2.eager_attention_forward``, same operations in
    the same order) with the softmax in the input's dtype instead of float32."""
    groups = module.num_key_value_groups
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if softcap is not None:
        weights = torch.tanh(weights / softcap) * softcap
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = torch.softmax(weights, dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def full_precision_gemma2(model) -> None:
    """Two more float32 steps of transformers' Gemma 2, made full precision for the float64 comparison:
    its eager attention's softmax (through transformers' own ``AttentionInterface`` registry, with the
    eager masks), and the ``sqrt(hidden_size)`` embedding scale, a buffer created in float32 at
    construction that ``.to(float64)`` keeps rounded (a model built in float64 holds it exactly)."""
    if model.config.model_type in ("mixtral", "qwen3_moe", "qwen2_moe"):  # the router's softmax, in float32 there
        for m in model.modules():
            if type(m).__name__.endswith("TopKRouter"):
                m.forward = full_precision_router.__get__(m)
        return
    if model.config.model_type == "gemma":  # only the embedding scale
        with torch.no_grad():
            model.model.embed_tokens.embed_scale.fill_(model.model.embed_tokens.scalar_embed_scale)
        return
    if model.config.model_type != "gemma2":
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register("blockforge_float64_eager", full_precision_eager_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register("blockforge_float64_eager", eager_mask)
    model.config._attn_implementation = "blockforge_float64_eager"
    with torch.no_grad():
        model.model.embed_tokens.embed_scale.fill_(model.model.embed_tokens.scalar_embed_scale)


def full_precision_router(self, hidden_states):
    """transformers' Mixtral / Qwen2-MoE / Qwen3-MoE top-k router (same operations) with the softmax in the
    input's dtype instead of float32."""
    hidden_states = hidden_states.reshape(-1, self.hidden_dim)
    logits = F.linear(hidden_states, self.weight)  # (N, E)
    probs = torch.softmax(logits, dim=-1)
    top_value, top_index = torch.topk(probs, self.top_k, dim=-1)
    if getattr(self, "norm_topk_prob", True):
        top_value = top_value / top_value.sum(dim=-1, keepdim=True)
    return logits, top_value, top_index


def hf_logits(model, ids, mask=None):
    """The output compared: logits, or the last hidden states of a headless encoder."""
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def bf_logits(model, ids, mask=None):
    with torch.no_grad():
        return model(ids, mask=mask)


def ids_batch(b: int, t: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (b, t), generator=g)


def right_padded(lengths: list[int], t: int, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of sequences of different lengths, right-padded with token 0, and its 1/0 mask."""
    ids = ids_batch(len(lengths), t, seed)
    mask = torch.zeros(len(lengths), t, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return ids * mask, mask


PER_TOKEN = sorted(k for k, f in FAMILIES.items() if f.per_token)
LM = sorted(k for k, f in FAMILIES.items() if f.lm)


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> str:
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
def test_logits_match(family, dtype):
    ref = hf_model(family, dtype)
    ours = from_hf_model(ref)
    assert next(ours.parameters()).dtype == dtype
    ids = ids_batch(3, MAX_LEN)
    diff = (hf_logits(ref, ids) - bf_logits(ours, ids)).abs().max().item()
    assert diff <= TOL[dtype], f"{family} {dtype}: max abs diff {diff:.3g} > {TOL[dtype]}"


def test_different_weights_do_differ(family):
    """The comparison can fail: a model with other weights is far outside the tolerance."""
    ref = hf_model(family, torch.float32, seed=0)
    other = from_hf_model(hf_model(family, torch.float32, seed=1))
    ids = ids_batch(2, 8)
    assert (hf_logits(ref, ids) - bf_logits(other, ids)).abs().max().item() > 1e-2


@pytest.mark.parametrize("family", PER_TOKEN)
@pytest.mark.parametrize("dtype", DTYPES)
def test_padding_mask_and_ragged_batch(family, dtype):
    """Sequences of different lengths, right-padded: the real tokens' logits match transformers,
    and match each sequence run alone without padding."""
    ref = hf_model(family, dtype)
    ours = from_hf_model(ref)
    lengths = [MAX_LEN, 11, 5, 1]
    ids, mask = right_padded(lengths, MAX_LEN)
    theirs_batched, ours_batched = hf_logits(ref, ids, mask), bf_logits(ours, ids, mask)
    for i, n in enumerate(lengths):
        a, b = theirs_batched[i, :n], ours_batched[i, :n]
        assert (a - b).abs().max().item() <= TOL[dtype], f"sequence {i} (length {n})"
        alone = bf_logits(ours, ids[i : i + 1, :n])[0]
        if not FAMILIES[family].length_dependent:
            assert (alone - b).abs().max().item() <= TOL[dtype], f"sequence {i} alone vs batched"
    # the mask matters: without it, the padded sequences' logits change (bidirectional models),
    # or stay the same for the real tokens (causal models with right padding)
    unmasked = bf_logits(ours, ids)
    changed = (unmasked[2, :5] - ours_batched[2, :5]).abs().max().item()
    assert (changed <= TOL[dtype]) == FAMILIES[family].causal


@pytest.mark.parametrize("family", LM)
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_matches(family, dtype):
    ref = hf_model(family, dtype)
    ours = from_hf_model(ref)
    ids, mask = right_padded([MAX_LEN, 9, 4], MAX_LEN, seed=3)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        out = ref(input_ids=ids, attention_mask=mask, labels=labels)
        logits = ours(ids, mask=mask)
    causal = FAMILIES[family].causal
    loss = lm_loss(logits, labels, causal=causal)
    assert loss.dtype == dtype
    # transformers upcasts logits to float32 inside its loss, so its own loss is float32 precision
    assert abs(loss.item() - out.loss.item()) <= max(TOL[dtype], 1e-5), (loss.item(), out.loss.item())
    # at full precision: the same loss function on both models' logits
    theirs = lm_loss(out.logits, labels, causal=causal)
    assert abs(loss.item() - theirs.item()) <= TOL[dtype], (loss.item(), theirs.item())


def lm_loss(logits, labels, *, causal: bool):
    """Mean token cross-entropy, ignoring -100; next-token (shifted) for causal models."""
    if causal:
        logits, labels = logits[:, :-1], labels[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_ragged_batch_and_loss(dtype):
    """BERT sequence classification: padded batch of different lengths vs each sequence alone, and
    the cross-entropy loss transformers computes from labels."""
    ref = hf_model("bert-cls", dtype)
    ours = from_hf_model(ref)
    lengths = [MAX_LEN, 7, 3]
    ids, mask = right_padded(lengths, MAX_LEN, seed=4)
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        out = ref(input_ids=ids, attention_mask=mask, labels=labels)
        logits = ours(ids, mask=mask)
    assert logits.shape == (3, 3)
    assert (out.logits - logits).abs().max().item() <= TOL[dtype]
    for i, n in enumerate(lengths):
        alone = bf_logits(ours, ids[i : i + 1, :n])[0]
        assert (alone - logits[i]).abs().max().item() <= TOL[dtype], f"sequence {i} alone vs batched"
    loss = F.cross_entropy(logits, labels)
    assert abs(loss.item() - out.loss.item()) <= TOL[dtype], (loss.item(), out.loss.item())


@pytest.mark.parametrize("dtype", DTYPES)
def test_bert_token_types(dtype):
    ref = hf_model("bert", dtype)
    ours = from_hf_model(ref)
    ids = ids_batch(2, MAX_LEN)
    types = (torch.arange(MAX_LEN) >= 6).long().expand(2, -1)
    with torch.no_grad():
        theirs = ref(input_ids=ids, token_type_ids=types).last_hidden_state
        mine = ours(ids, token_types=types)
        zeros = ours(ids)
    assert (theirs - mine).abs().max().item() <= TOL[dtype]
    assert (mine - zeros).abs().max().item() > 1e-3  # the token types were used


def _no_plan(m):
    del m["plan"]


def _swap_layer_types(m):
    m["plan"]["pattern"] = m["plan"]["pattern"][::-1]


def _no_attention_scale(m):
    del m["block"]["attention"]["scale"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_no_attention_scale, id="scale-head_dim"),
        pytest.param(lambda m: m["block"]["attention"].pop("softcap"), id="no-attn-softcap"),
        pytest.param(lambda m: m["head"].pop("softcap"), id="no-final-softcap"),
        pytest.param(_no_plan, id="no-sliding-window"),
        pytest.param(_swap_layer_types, id="swapped-layer-types"),
        pytest.param(lambda m: m["embedding"].update(scale="none"), id="no-embedding-scale"),
        pytest.param(lambda m: [n.update(unit_offset=False) for n in (m["block"]["norm"], m["final_norm"])],
                     id="scale-w-not-1+w"),
    ],
)
def test_gemma2_details_matter(change):
    """Each Gemma 2 detail changes the logits far beyond the tolerance at these sizes, so the parity
    tests above do check it: the same weights in a spec without that detail are >1e-2 away."""
    ref = hf_model("gemma2", torch.float32)
    spec = config_to_spec(ref.config)
    change(spec["model"])
    ours = build_model(spec).eval()
    load_hf_state_dict(ours, ref.state_dict(), family="gemma2")
    ids = ids_batch(3, MAX_LEN)
    assert (hf_logits(ref, ids) - bf_logits(ours, ids)).abs().max().item() > 1e-2


def _sequential(m):
    b = m["block"]
    m["block"] = {"type": "transformer", "norm_position": "pre", "norm": b["norm"], "attention": b["attention"],
                  "feedforward": b["feedforward"], "dropout": b["dropout"]}


def _parallel(m):
    b = m["block"]
    m["block"] = {"type": "parallel", "norm": b["norm"], "ff_norm": b["norm"], "attention": b["attention"],
                  "feedforward": b["feedforward"], "dropout": b["dropout"]}


@pytest.mark.parametrize(
    ("family", "change"),
    [
        pytest.param("gpt_neox", _sequential, id="parallel-as-sequential"),
        pytest.param("gpt_neox-sequential", _parallel, id="sequential-as-parallel"),
        pytest.param("gpt_neox", lambda m: m["positional"].pop("fraction"), id="full-rotary"),
        pytest.param("gpt_neox-sequential", lambda m: m["positional"].update(fraction=0.25), id="quarter-rotary"),
    ],
)
def test_gpt_neox_details_matter(family, change):
    """The residual form and the rotary fraction each move the logits far beyond the tolerance."""
    ref = hf_model(family, torch.float32)
    spec = config_to_spec(ref.config)
    change(spec["model"])
    ours = build_model(spec).eval()
    load_hf_state_dict(ours, ref.state_dict(), family="gpt_neox")
    ids = ids_batch(3, MAX_LEN)
    assert (hf_logits(ref, ids) - bf_logits(ours, ids)).abs().max().item() > 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_lm_loss(dtype):
    """BertForMaskedLM: the masked-LM loss on a padded batch (labels only at masked positions)."""
    ref = hf_model("bert-mlm", dtype)
    ours = from_hf_model(ref)
    ids, mask = right_padded([MAX_LEN, 9, 4], MAX_LEN, seed=6)
    labels = torch.full_like(ids, -100)
    labels[:, 1:4] = ids[:, 1:4]
    with torch.no_grad():
        out = ref(input_ids=ids, attention_mask=mask, labels=labels)
        logits = ours(ids, mask=mask)
    loss = lm_loss(logits, labels, causal=False)
    assert abs(loss.item() - out.loss.item()) <= max(TOL[dtype], 1e-5), (loss.item(), out.loss.item())
    assert abs(loss.item() - lm_loss(out.logits, labels, causal=False).item()) <= TOL[dtype]


@pytest.mark.parametrize("family", ["llama-gqa", "qwen3"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_decoder_sequence_classification(family, dtype):
    """<Family>ForSequenceClassification: the score head on each sequence's last real token, right-padded
    batch (pad id 0, absent from the text), alone vs batched, and the cross-entropy loss."""
    torch.manual_seed(0)
    cls = FAMILIES[family].model_class.replace("ForCausalLM", "ForSequenceClassification")
    ref = getattr(transformers, cls)(FAMILIES[family].config(num_labels=3, pad_token_id=0))
    perturb_norms(ref)
    ref = ref.to(dtype).eval()
    if dtype == torch.float64:
        full_precision_rmsnorm(ref)
    ours = from_hf_model(ref)
    lengths = [MAX_LEN, 7, 3]
    ids, mask = right_padded(lengths, MAX_LEN, seed=8)
    ids = torch.where(mask.bool(), ids.clamp(min=1), 0)  # pad id 0 only where padded
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        out = ref(input_ids=ids, attention_mask=mask, labels=labels)
        logits = ours(ids, mask=mask)
    assert logits.shape == (3, 3)
    assert (out.logits - logits).abs().max().item() <= TOL[dtype]
    for i, n in enumerate(lengths):
        alone = bf_logits(ours, ids[i : i + 1, :n])[0]
        assert (alone - logits[i]).abs().max().item() <= TOL[dtype], f"sequence {i} alone vs batched"
    loss = F.cross_entropy(logits, labels)
    assert abs(loss.item() - out.loss.item()) <= max(TOL[dtype], 1e-5), (loss.item(), out.loss.item())
