"""Small transformers configs for each supported family, and how to run both implementations.

Each family gives a function making a tiny transformers config (random-initialised models are built
from it; nothing is downloaded) and the transformers class of its LM/encoder model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Family:
    """A family under test.

    Attributes:
        name: the transformers ``model_type`` (the layout family).
        config: keyword arguments -> a transformers config object (needs transformers).
        model_class: the transformers class name whose state dict the layout describes.
        causal: whether outputs at position t depend only on tokens <= t.
        output: the attribute of the transformers output compared with blockforge's output.
        per_token: the output has one row per token (``(B, T, ...)``), not one per sequence.
        lm: the model is a causal LM (next-token loss).
        kwargs: extra keyword arguments of the transformers model constructor.
        length_dependent: outputs depend on the batch's padded length (LongRoPE picks its factors by
            the longest sequence, in transformers too), so a sequence alone differs from it batched.
        new_layout: its weights are laid out unlike every case before it (False for variants that differ
            only in numerics, such as a RoPE scaling type: the weight tests skip them).
    """

    name: str
    config: Callable[..., Any]
    model_class: str
    causal: bool = True
    output: str = "logits"
    per_token: bool = True
    lm: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)
    length_dependent: bool = False
    new_layout: bool = True

    def make(self, **overrides: Any) -> Any:
        """A random-initialised transformers model of this family (the global RNG decides the weights)."""
        import transformers

        return getattr(transformers, self.model_class)(self.config(**overrides), **self.kwargs)


VOCAB, MAX_LEN = 97, 16


def _gpt2(**overrides: Any) -> Any:
    from transformers import GPT2Config

    kw = dict(vocab_size=VOCAB, n_positions=MAX_LEN, n_embd=32, n_layer=2, n_head=4,
              attn_implementation="sdpa")
    return GPT2Config(**{**kw, **overrides})


def _llama_like(cls: str, **fixed: Any) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        import transformers

        kw = dict(vocab_size=VOCAB, max_position_embeddings=MAX_LEN, hidden_size=32, intermediate_size=48,
                  num_hidden_layers=2, num_attention_heads=4, rms_norm_eps=1e-5, attn_implementation="sdpa")
        return getattr(transformers, cls)(**{**kw, **fixed, **overrides})

    return make


def _bert(**overrides: Any) -> Any:
    from transformers import BertConfig

    kw = dict(vocab_size=VOCAB, max_position_embeddings=MAX_LEN, hidden_size=32, intermediate_size=48,
              num_hidden_layers=2, num_attention_heads=4, type_vocab_size=2, attn_implementation="sdpa")
    return BertConfig(**{**kw, **overrides})


def _gemma2(**overrides: Any) -> Any:
    """Gemma 2 in miniature. The initialiser range is large enough that both soft-caps, the attention
    scale and the window change the logits far beyond the tolerances (``test_gemma2_details_matter``);
    transformers' Gemma 2 has no SDPA path (soft-capping), so the reference runs eager attention."""
    from transformers import Gemma2Config

    kw = dict(vocab_size=VOCAB, max_position_embeddings=MAX_LEN, hidden_size=32, intermediate_size=48,
              num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              query_pre_attn_scalar=9, sliding_window=5, attn_logit_softcapping=2.0,
              final_logit_softcapping=3.0, initializer_range=0.2, rms_norm_eps=1e-5,
              attn_implementation="eager")
    return Gemma2Config(**{**kw, **overrides})


def _gpt_neox(**overrides: Any) -> Any:
    from transformers import GPTNeoXConfig

    kw = dict(vocab_size=VOCAB, max_position_embeddings=MAX_LEN, hidden_size=32, intermediate_size=48,
              num_hidden_layers=2, num_attention_heads=4, initializer_range=0.2, attn_implementation="sdpa")
    return GPTNeoXConfig(**{**kw, **overrides})


def _gpt_bigcode(**overrides: Any) -> Any:
    from transformers import GPTBigCodeConfig

    kw = dict(vocab_size=VOCAB, n_positions=MAX_LEN, n_embd=32, n_layer=2, n_head=4, initializer_range=0.2,
              attn_implementation="sdpa")
    return GPTBigCodeConfig(**{**kw, **overrides})


def _gptj(**overrides: Any) -> Any:
    from transformers import GPTJConfig

    kw = dict(vocab_size=VOCAB, n_positions=MAX_LEN, n_embd=32, n_layer=2, n_head=4, rotary_dim=4,
              initializer_range=0.2, attn_implementation="sdpa")
    return GPTJConfig(**{**kw, **overrides})


FAMILIES: dict[str, Family] = {
    "gpt2": Family("gpt2", _gpt2, "GPT2LMHeadModel"),
    # as many kv heads as query heads (fused qkv), non-default theta, linear RoPE scaling
    "llama": Family("llama", _llama_like("LlamaConfig", num_key_value_heads=4, rope_parameters={
        "rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0}), "LlamaForCausalLM"),
    # grouped-query attention, tied embeddings, biases everywhere
    "llama-gqa": Family("llama", _llama_like("LlamaConfig", num_key_value_heads=2, tie_word_embeddings=True,
                                             attention_bias=True, mlp_bias=True), "LlamaForCausalLM"),
    # Llama 3.1's frequency-dependent RoPE scaling (pre-training context 4 < the sequences' 16)
    "llama3.1": Family("llama", _llama_like("LlamaConfig", num_key_value_heads=2, rope_parameters={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 4, "rope_theta": 500.0}), "LlamaForCausalLM", new_layout=False),
    # YaRN (attention factor on cos/sin); LongRoPE past its original context (long factors, Phi-3 style)
    "llama-yarn": Family("llama", _llama_like("LlamaConfig", rope_parameters={
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4, "rope_theta": 100.0}),
        "LlamaForCausalLM", new_layout=False),
    "llama-longrope": Family("llama", _llama_like("LlamaConfig", rope_parameters={
        "rope_type": "longrope", "short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [1.0, 4.0, 9.0, 30.0],
        "original_max_position_embeddings": 8, "rope_theta": 100.0}), "LlamaForCausalLM", length_dependent=True,
        new_layout=False),
    # Qwen3: per-head RMSNorm on queries and keys, GQA, explicit head_dim != hidden / heads
    "qwen3": Family("qwen3", _llama_like("Qwen3Config", num_key_value_heads=2, head_dim=16), "Qwen3ForCausalLM"),
    # Gemma: (1 + w) RMSNorms, sqrt(d) embedding scale, GeGLU, head_dim 16 != 32 / 4, multi-query, tied
    "gemma": Family("gemma", _llama_like("GemmaConfig", num_key_value_heads=1, head_dim=16, initializer_range=0.2),
                    "GemmaForCausalLM"),
    # StarCoder2: LayerNorm with biases, biases everywhere, plain GELU MLP, GQA, sliding window 5
    "starcoder2": Family("starcoder2", _llama_like("Starcoder2Config", num_key_value_heads=2, sliding_window=5,
                                                   norm_epsilon=1e-5), "Starcoder2ForCausalLM"),
    # Mixtral: 4 SwiGLU experts, top-2 renormalised, GQA, window 5
    "mixtral": Family("mixtral", _llama_like("MixtralConfig", num_key_value_heads=2, num_local_experts=4,
                                             num_experts_per_tok=2, sliding_window=5, initializer_range=0.2,
                                             experts_implementation="eager"),
                      "MixtralForCausalLM"),
    # Qwen3-MoE: QK-norm, 4 experts of width 24, top-2 not renormalised (norm_topk_prob false)
    "qwen3_moe": Family("qwen3_moe", _llama_like("Qwen3MoeConfig", num_key_value_heads=2, num_experts=4,
                                                 num_experts_per_tok=2, moe_intermediate_size=24, experts_implementation="eager",
                                                 initializer_range=0.2), "Qwen3MoeForCausalLM"),
    # Phi-3: fused qkv_proj (split into q and kv: GQA) and gate_up_proj; half the features rotated with
    # LongRoPE past its original context (factor lists of rotary_dim / 2 entries); window 5
    # (Phi3Config reads original_max_position_embeddings at the top level)
    "phi3": Family("phi3", _llama_like("Phi3Config", num_key_value_heads=2, sliding_window=5, pad_token_id=None,
                                       initializer_range=0.2, original_max_position_embeddings=8,
                                       rope_parameters={"rope_type": "longrope", "partial_rotary_factor": 0.5,
                                                        "short_factor": [1.0, 2.0], "long_factor": [3.0, 7.0],
                                                        "rope_theta": 100.0}),
                   "Phi3ForCausalLM", length_dependent=True),
    # StableLM: LayerNorms with biases, q/k/v biases, a quarter of the features rotated (the default)
    "stablelm": Family("stablelm", _llama_like("StableLmConfig", use_qkv_bias=True, num_key_value_heads=4, layer_norm_eps=1e-5,
                                               initializer_range=0.2), "StableLmForCausalLM"),
    # StableLM with attention and MLP in parallel on one shared norm, GQA, tied
    "stablelm-parallel": Family("stablelm", _llama_like("StableLmConfig", use_parallel_residual=True,
                                                        num_key_value_heads=2, tie_word_embeddings=True,
                                                        initializer_range=0.2), "StableLmForCausalLM"),
    # OLMo 2: norms on the sublayer outputs only, QK-norm across all heads (GQA: k_norm narrower)
    "olmo2": Family("olmo2", _llama_like("Olmo2Config", num_key_value_heads=2, initializer_range=0.2,
                                         pad_token_id=None), "Olmo2ForCausalLM"),
    # GPT-BigCode: multi-query attention from one fused c_attn [q; k; v], learned positions, tied
    "gpt_bigcode": Family("gpt_bigcode", _gpt_bigcode, "GPTBigCodeForCausalLM"),
    # ... and without multi-query (c_attn per head), exact GELU, untied
    "gpt_bigcode-mha": Family("gpt_bigcode", lambda **o: _gpt_bigcode(**{
        "multi_query": False, "activation_function": "gelu", "tie_word_embeddings": False, **o}),
        "GPTBigCodeForCausalLM"),
    # GPT-J: parallel attention + MLP on one norm, interleaved RoPE on 4 of 8 features, biased lm_head
    "gptj": Family("gptj", _gptj, "GPTJForCausalLM"),
    # Qwen2-MoE: q/k/v biases, 4 experts of width 24, top-2 not renormalised, a sigmoid-gated shared expert
    "qwen2_moe": Family("qwen2_moe", _llama_like("Qwen2MoeConfig", num_key_value_heads=2, num_experts=4,
                                                 num_experts_per_tok=2, moe_intermediate_size=24,
                                                 shared_expert_intermediate_size=40, initializer_range=0.2,
                                                 experts_implementation="eager"), "Qwen2MoeForCausalLM"),
    # grouped-query attention and a sliding window shorter than the sequences
    "mistral": Family("mistral", _llama_like("MistralConfig", num_key_value_heads=2, sliding_window=5),
                      "MistralForCausalLM"),
    # q/k/v biases without an output bias; multi-query attention
    "qwen2": Family("qwen2", _llama_like("Qwen2Config", num_key_value_heads=1), "Qwen2ForCausalLM"),
    # encoder: bidirectional, post-norm, token types; hidden states (pooler off so export is exact)
    "bert": Family("bert", _bert, "BertModel", causal=False, output="last_hidden_state", lm=False,
                   kwargs={"add_pooling_layer": False}),
    # encoder with its masked-LM head (dense + GELU + LayerNorm, decoder tied to the word embeddings)
    "bert-mlm": Family("bert", lambda **o: _bert(**{"architectures": ["BertForMaskedLM"], **o}), "BertForMaskedLM",
                       causal=False, lm=False),
    # encoder with a sequence-classification head (CLS token, tanh pooler)
    "bert-cls": Family("bert", lambda **o: _bert(**{"architectures": ["BertForSequenceClassification"],
                                                    "num_labels": 3, **o}),
                       "BertForSequenceClassification", causal=False, per_token=False, lm=False),
    # default layer types (sliding, full, ...), GQA, both soft-caps, query_pre_attn_scalar != head_dim
    "gemma2": Family("gemma2", _gemma2, "Gemma2ForCausalLM"),
    # explicit, irregular layer types; fused qkv with biases; exact GELU; no soft-caps; untied head
    "gemma2-variant": Family("gemma2", lambda **o: _gemma2(**{
        "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "full_attention"],
        "num_key_value_heads": 4, "attention_bias": True, "hidden_activation": "gelu",
        "attn_logit_softcapping": None, "final_logit_softcapping": None, "tie_word_embeddings": False,
        "rope_parameters": {"rope_type": "default", "rope_theta": 500.0}, **o}), "Gemma2ForCausalLM"),
    # parallel attention + MLP, partial rotary (the default 25%), fused per-head qkv, untied output layer
    "gpt_neox": Family("gpt_neox", _gpt_neox, "GPTNeoXForCausalLM"),
    # sequential residual, half the features rotated, other theta, no attention biases, tied, tanh GELU
    "gpt_neox-sequential": Family("gpt_neox", lambda **o: _gpt_neox(**{
        "use_parallel_residual": False, "rope_parameters": {"rope_type": "default", "rope_theta": 500.0,
                                                            "partial_rotary_factor": 0.5},
        "attention_bias": False, "tie_word_embeddings": True, "hidden_act": "gelu_new", **o}),
        "GPTNeoXForCausalLM"),
}
