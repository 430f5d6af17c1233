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

from blockforge.interop import from_hf_model  # noqa: E402
from tests.interop.families import FAMILIES, MAX_LEN, VOCAB  # noqa: E402

TOL = {torch.float32: 1e-4, torch.float64: 1e-10}
DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]


def hf_model(family: str, dtype: torch.dtype, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = FAMILIES[family].make(**overrides).to(dtype).eval()
    if dtype == torch.float64:
        full_precision_rmsnorm(model)
    return model


def full_precision_rmsnorm(model) -> None:
    """transformers' Llama-family RMSNorm computes in float32 even for float64 inputs
    (``hidden_states.to(torch.float32)``), so its float64 models are only float32-accurate there. For
    the float64 comparison the reference's RMSNorm runs the same formula in the input's dtype."""
    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    for m in model.modules():
        if type(m).__name__.endswith("RMSNorm"):
            m.forward = forward.__get__(m)


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
