"""RoPE scaling variants against transformers' own inverse-frequency functions (``ROPE_INIT_FUNCTIONS``).

The frequencies are computed in float32 by both, operation for operation: they must be bit-identical,
and the ``cos``/``sin`` factor equal. The configs go through blockforge's import (``config_to_spec``) and
its ``rope`` parameter model, so the whole path from ``config.json`` to the frequencies is checked.
"""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")

import torch  # noqa: E402
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402

from blockforge.builtins.positional import RoPEParams  # noqa: E402
from blockforge.components.rope_scaling import RopeScaling, rope_inverse_frequencies  # noqa: E402
from blockforge.interop import config_to_spec  # noqa: E402

HEAD_DIM, MAX_LEN = 64, 4096
LONG = [1.0 + 0.37 * i for i in range(HEAD_DIM // 2)]
SHORT = [1.0 + 0.01 * i for i in range(HEAD_DIM // 2)]

VARIANTS = {
    "linear": {"rope_type": "linear", "factor": 3.0},
    "dynamic": {"rope_type": "dynamic", "factor": 3.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024},
    "yarn-betas-untruncated": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 512,
                               "beta_fast": 16.0, "beta_slow": 2.0, "truncate": False},
    "yarn-mscale": {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 128,
                    "mscale": 1.0, "mscale_all_dim": 0.707},
    "yarn-attention-factor": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024,
                              "attention_factor": 0.8},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 1024},
    "longrope": {"rope_type": "longrope", "short_factor": SHORT, "long_factor": LONG,
                 "original_max_position_embeddings": 1024},
    "longrope-factor": {"rope_type": "longrope", "short_factor": SHORT, "long_factor": LONG, "factor": 2.5,
                        "original_max_position_embeddings": 1024, "attention_factor": 1.1},
}


def _config(rope_parameters: dict, theta: float = 500000.0) -> transformers.LlamaConfig:
    return transformers.LlamaConfig(
        hidden_size=HEAD_DIM * 4, num_attention_heads=4, num_hidden_layers=1, intermediate_size=32, vocab_size=11,
        max_position_embeddings=MAX_LEN, rope_parameters={**rope_parameters, "rope_theta": theta})


def _ours(config, seq_len: int | None) -> tuple[torch.Tensor, float]:
    spec = config_to_spec(config)
    params = RoPEParams.model_validate({k: v for k, v in spec["model"]["positional"].items() if k != "type"})
    scaling = params.rope_scaling(spec["model"]["max_len"])
    return rope_inverse_frequencies(rotary_dim=HEAD_DIM, theta=params.theta,
                                    scaling=RopeScaling(**scaling) if scaling else None, seq_len=seq_len)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("seq_len", [None, 100, 2 * MAX_LEN], ids=["init", "short", "past-max_len"])
def test_inverse_frequencies_equal_transformers(variant, seq_len):
    config = _config(dict(VARIANTS[variant]))
    kind = config.rope_parameters["rope_type"]
    theirs, their_factor = ROPE_INIT_FUNCTIONS[kind](config, None, seq_len=seq_len)
    ours, our_factor = _ours(config, seq_len)
    assert ours.dtype == theirs.dtype == torch.float32
    assert torch.equal(ours, theirs), (ours - theirs).abs().max()
    assert our_factor == pytest.approx(their_factor, rel=1e-15)
    # the variant matters: plain RoPE differs (except dynamic within max_len, which is plain RoPE)
    plain = rope_inverse_frequencies(rotary_dim=HEAD_DIM, theta=500000.0)[0]
    grows = kind != "dynamic" or (seq_len or 0) > MAX_LEN
    assert (not torch.equal(ours, plain) or our_factor != 1.0) == grows


def test_longrope_switches_factors_past_the_original_context():
    scaling = RopeScaling(type="longrope", factor=4.0, original_max_len=1024, short_factor=tuple(SHORT),
                          long_factor=tuple(LONG))
    short = rope_inverse_frequencies(rotary_dim=HEAD_DIM, theta=1e4, scaling=scaling, seq_len=1024)[0]
    long = rope_inverse_frequencies(rotary_dim=HEAD_DIM, theta=1e4, scaling=scaling, seq_len=1025)[0]
    assert not torch.equal(short, long)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"scaling_type": "yarn", "scaling": 4.0}, "original_max_len"),
        ({"scaling_type": "longrope", "original_max_len": 8, "short_factor": [1.0]}, "short_factor"),
        ({"scaling_type": "longrope", "original_max_len": 8, "short_factor": [1.0], "long_factor": [1.0, 2.0]},
         "long_factor"),
        ({"scaling_type": "llama3", "original_max_len": 8, "low_freq_factor": 4.0, "high_freq_factor": 1.0},
         "high_freq_factor"),
        ({"scaling": 2.0, "beta_fast": 8.0}, "beta_fast"),
    ],
)
def test_rope_params_contracts(params, field):
    problems = list(RoPEParams.model_validate(params).check(None))  # type: ignore[arg-type]
    assert field in [f for f, _ in problems], problems
