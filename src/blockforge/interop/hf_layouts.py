"""Parameter layouts of the transformers families: one explicit :class:`Rule` per blockforge tensor.

See docs/layout.md ("Parameter layout") for the names on both sides. Transposes are declared by name
(GPT-2's ``Conv1D`` stores ``[in, out]``), never guessed from shapes: a square projection would load
silently wrong otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

Transform = Literal["copy", "transpose", "cat", "per_head_qkv", "expert", "rows"]


@dataclass(frozen=True)
class Rule:
    """How one blockforge tensor relates to transformers tensors.

    Attributes:
        ours: the blockforge state-dict key.
        theirs: the transformers key(s); several for a fused tensor (concatenated along dim 0).
        transform: ``copy``, ``transpose`` (2-D, transformers stores ``[in, out]``), ``cat``, or
            ``per_head_qkv`` (GPT-NeoX's fused projection: rows ``[q_h; k_h; v_h]`` for each head ``h``
            in turn, where blockforge's ``qkv`` stacks all queries, then all keys, then all values).
        split: for ``cat``, the dim-0 size of each part, in the order of ``theirs``.
        heads: for ``per_head_qkv``, the number of heads.
        expert: for ``expert``, ``(e, part, parts)``: this tensor is part ``part`` of ``parts`` equal row
            blocks of expert ``e`` in transformers' stacked expert tensor ``(E, rows, ...)`` (Mixtral's
            ``gate_up_proj`` is ``[gate_e; up_e]`` for each expert ``e``); several rules fill one tensor.
        part: for ``rows``, which of the row blocks ``split`` of the one transformers tensor this
            tensor is (Phi-3's fused ``qkv_proj`` feeding blockforge's ``q`` and ``kv``, its
            ``gate_up_proj`` feeding ``gate`` and ``up``); several rules fill one tensor, in order.
    """

    ours: str
    theirs: tuple[str, ...]
    transform: Transform = "copy"
    split: tuple[int, ...] = ()
    heads: int = 0
    expert: tuple[int, int, int] = (0, 0, 1)
    part: int = 0

    def to_theirs(self, t: Tensor) -> dict[str, Tensor]:
        if self.transform == "transpose":
            return {self.theirs[0]: t.t()}
        if self.transform == "cat":
            return dict(zip(self.theirs, torch.split(t, list(self.split), dim=0), strict=True))
        if self.transform == "per_head_qkv":  # (3, H, D, ...) -> (H, 3, D, ...)
            parts = t.reshape(3, self.heads, -1, *t.shape[1:])
            return {self.theirs[0]: parts.transpose(0, 1).reshape(t.shape)}
        if self.transform in ("expert", "rows"):
            raise ValueError(f"{self.transform} slices are assembled by assemble_theirs, not one by one")
        return {self.theirs[0]: t}

    def to_ours(self, parts: list[Tensor]) -> Tensor:
        if self.transform == "transpose":
            return parts[0].t()
        if self.transform == "cat":
            return torch.cat(parts, dim=0)
        if self.transform == "per_head_qkv":  # (H, 3, D, ...) -> (3, H, D, ...)
            t = parts[0]
            return t.reshape(self.heads, 3, -1, *t.shape[1:]).transpose(0, 1).reshape(t.shape)
        if self.transform == "expert":
            e, part, n = self.expert
            return parts[0][e].chunk(n, dim=0)[part]
        if self.transform == "rows":
            return torch.split(parts[0], list(self.split), dim=0)[self.part]
        return parts[0]


def assemble_theirs(rules: tuple[Rule, ...], ours: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """transformers' tensors of ``rules`` from blockforge's ``ours`` (each rule's ``to_theirs``; the
    ``expert`` rules of one stacked tensor gathered: parts concatenated by rows, experts stacked; the
    ``rows`` rules of one fused tensor concatenated by rows in ``part`` order)."""
    out: dict[str, Tensor] = {}
    stacked: dict[str, dict[int, dict[int, Tensor]]] = {}
    blocks: dict[str, dict[int, Tensor]] = {}
    for rule in rules:
        if rule.transform == "rows":
            blocks.setdefault(rule.theirs[0], {})[rule.part] = ours[rule.ours]
        elif rule.transform == "expert":
            e, part, _ = rule.expert
            stacked.setdefault(rule.theirs[0], {}).setdefault(e, {})[part] = ours[rule.ours]
        else:
            out.update(rule.to_theirs(ours[rule.ours]))
    for key, experts in stacked.items():
        rows = [torch.cat([experts[e][p] for p in sorted(experts[e])], dim=0) for e in sorted(experts)]
        out[key] = torch.stack(rows)  # (E, rows, ...)
    for key, parts in blocks.items():
        out[key] = torch.cat([parts[i] for i in sorted(parts)], dim=0)
    return out


@dataclass(frozen=True)
class Layout:
    """A family's full mapping for one model.

    Attributes:
        rules: one per blockforge tensor.
        aliases: transformers keys that hold the same tensor as another transformers key (a tied
            ``lm_head.weight``); accepted on load when equal, emitted on export unless deduplicated.
        ignored: patterns of transformers keys that carry no weights (old causal-mask buffers).
        prefix: the base-model prefix (``transformer.``): state dicts with or without it are accepted.
        renamed: old transformers key -> current key, accepted on load (GPT-NeoX's ``embed_out.weight``,
            which transformers 5 renames to ``lm_head.weight`` when it loads such a checkpoint).
    """

    rules: tuple[Rule, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    prefix: str = ""
    renamed: Mapping[str, str] = field(default_factory=dict)


Shape = tuple[int, ...]


def gpt2_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """GPT2LMHeadModel. ``Conv1D`` weights (c_attn, c_proj, c_fc) are stored ``[in, out]``."""
    p = "transformer."
    rules = [Rule("embedding.weight", (p + "wte.weight",)), Rule("positional.weight", (p + "wpe.weight",))]
    for i in range(m["n_layers"]):
        h, b = f"{p}h.{i}.", f"blocks.{i}."
        for ours, theirs, conv in (
            ("attn_norm", "ln_1", False), ("attention.qkv", "attn.c_attn", True),
            ("attention.out", "attn.c_proj", True), ("ff_norm", "ln_2", False),
            ("feedforward.up", "mlp.c_fc", True), ("feedforward.down", "mlp.c_proj", True),
        ):
            rules.append(Rule(f"{b}{ours}.weight", (f"{h}{theirs}.weight",), "transpose" if conv else "copy"))
            rules.append(Rule(f"{b}{ours}.bias", (f"{h}{theirs}.bias",)))
    rules += [Rule("final_norm.weight", (p + "ln_f.weight",)), Rule("final_norm.bias", (p + "ln_f.bias",))]
    aliases: dict[str, str] = {}
    if m["head"].get("tied"):
        aliases["lm_head.weight"] = p + "wte.weight"
    else:
        rules.append(Rule("head.proj.weight", ("lm_head.weight",)))
    return Layout(tuple(rules), aliases, (r"transformer\.h\.\d+\.attn\.(bias|masked_bias)",), p)


def gpt_bigcode_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """GPTBigCodeForCausalLM (and ...ForSequenceClassification, ``score``): GPT-2's names with plain
    ``nn.Linear`` layers. The fused ``c_attn`` is ``[q; k; v]`` for multi-query attention (blockforge's
    ``q`` and ``kv``), and per head ``[q_h; k_h; v_h]`` otherwise (``per_head_qkv``)."""
    p = "transformer."
    heads = m["block"]["attention"]["heads"]
    rules = [Rule("embedding.weight", (p + "wte.weight",)), Rule("positional.weight", (p + "wpe.weight",))]
    for i in range(m["n_layers"]):
        h, b = f"{p}h.{i}.", f"blocks.{i}."
        if f"{b}attention.qkv.weight" in ours:
            rules += [Rule(f"{b}attention.qkv.{x}", (f"{h}attn.c_attn.{x}",), "per_head_qkv", heads=heads)
                      for x in ("weight", "bias")]
        else:
            rules += split_rows(ours, f"{h}attn.c_attn", (f"{b}attention.q", f"{b}attention.kv"))
        for mine, theirs in (("attn_norm", "ln_1"), ("attention.out", "attn.c_proj"), ("ff_norm", "ln_2"),
                             ("feedforward.up", "mlp.c_fc"), ("feedforward.down", "mlp.c_proj")):
            rules += linear(ours, f"{b}{mine}", f"{h}{theirs}")
    rules += linear(ours, "final_norm", p + "ln_f")
    aliases: dict[str, str] = {}
    if m["head"]["type"] == "classifier":
        rules += linear(ours, "head.proj", "score")
    elif m["head"].get("tied"):
        aliases["lm_head.weight"] = p + "wte.weight"
    else:
        rules += linear(ours, "head.proj", "lm_head")
    return Layout(tuple(rules), aliases, (r"transformer\.bias", r"transformer\.h\.\d+\.attn\.(bias|masked_bias)"), p)


def gptj_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """GPTJForCausalLM (and ...ForSequenceClassification, ``score``): ``transformer.h.i.ln_1`` (the shared
    norm of the parallel block), ``attn.{q,k,v}_proj`` (blockforge's fused ``qkv``), ``attn.out_proj``,
    ``mlp.fc_in`` / ``fc_out``, ``transformer.ln_f``, and ``lm_head`` with its bias."""
    p = "transformer."
    d = m["d_model"]
    rules = [Rule("embedding.weight", (p + "wte.weight",))]
    for i in range(m["n_layers"]):
        h, b = f"{p}h.{i}.", f"blocks.{i}."
        rules += linear(ours, f"{b}attn_norm", f"{h}ln_1")
        rules += fused(ours, f"{b}attention.qkv", (f"{h}attn.q_proj", f"{h}attn.k_proj", f"{h}attn.v_proj"), (d, d, d))
        rules += linear(ours, f"{b}attention.out", f"{h}attn.out_proj")
        rules += linear(ours, f"{b}feedforward.up", f"{h}mlp.fc_in")
        rules += linear(ours, f"{b}feedforward.down", f"{h}mlp.fc_out")
    rules += linear(ours, "final_norm", p + "ln_f")
    aliases: dict[str, str] = {}
    if m["head"]["type"] == "classifier":
        rules += linear(ours, "head.proj", "score")
    elif m["head"].get("tied"):
        aliases["lm_head.weight"] = p + "wte.weight"
        if "head.proj.bias" in ours:
            rules.append(Rule("head.proj.bias", ("lm_head.bias",)))
    else:
        rules += linear(ours, "head.proj", "lm_head")
    return Layout(tuple(rules), aliases, (), p)


def linear(ours: Mapping[str, Shape], mine: str, theirs: str, transform: Transform = "copy") -> list[Rule]:
    """``weight`` (and ``bias`` where this model has one) of a linear layer or norm."""
    rules = [Rule(f"{mine}.weight", (f"{theirs}.weight",), transform)]
    if f"{mine}.bias" in ours:
        rules.append(Rule(f"{mine}.bias", (f"{theirs}.bias",)))
    return rules


def fused(ours: Mapping[str, Shape], mine: str, theirs: tuple[str, ...], split: tuple[int, ...]) -> list[Rule]:
    """A fused projection (rows of the parts stacked in order), with its bias where present."""
    rules = [Rule(f"{mine}.weight", tuple(f"{t}.weight" for t in theirs), "cat", split)]
    if f"{mine}.bias" in ours:
        rules.append(Rule(f"{mine}.bias", tuple(f"{t}.bias" for t in theirs), "cat", split))
    return rules


def split_rows(ours: Mapping[str, Shape], theirs: str, mine: tuple[str, ...]) -> list[Rule]:
    """One fused transformers linear layer (``theirs``, without ``.weight``) whose row blocks are the
    blockforge layers ``mine`` in order (each block as many rows as that layer has), bias included
    where this model has one."""
    rules = []
    for suffix in ("weight", "bias"):
        if f"{mine[0]}.{suffix}" not in ours:
            continue
        sizes = tuple(ours[f"{m}.{suffix}"][0] for m in mine)
        rules += [Rule(f"{m}.{suffix}", (f"{theirs}.{suffix}",), "rows", sizes, part=i) for i, m in enumerate(mine)]
    return rules


def llama_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (identical naming).

    Separate ``q_proj``/``k_proj``/``v_proj`` become blockforge's fused ``qkv`` (rows ``[q; k; v]``)
    when there are as many key/value heads as query heads, else ``q`` plus ``kv`` (rows ``[k; v]``).
    """
    return _llama_like_layout(m, ours, {"attn_norm": "input_layernorm", "ff_norm": "post_attention_layernorm"})


def gemma2_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """Gemma2ForCausalLM: Llama's naming plus the sandwich norms (four per layer, ``(1 + w)`` weights
    stored as they are)."""
    return _llama_like_layout(m, ours, {
        "attn_norm": "input_layernorm", "attn_post_norm": "post_attention_layernorm",
        "ff_norm": "pre_feedforward_layernorm", "ff_post_norm": "post_feedforward_layernorm",
    })


def olmo2_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """Olmo2ForCausalLM: Llama's naming; the block's two norms sit on the sublayer outputs
    (``post_attention_layernorm``, ``post_feedforward_layernorm``); ``self_attn.q_norm`` / ``k_norm``
    span all heads."""
    return _llama_like_layout(m, ours, {"attn_norm": "post_attention_layernorm",
                                        "ff_norm": "post_feedforward_layernorm"})


def phi3_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """Phi3ForCausalLM: Llama's naming with fused ``self_attn.qkv_proj`` (rows ``[q; k; v]``) and
    ``mlp.gate_up_proj`` (rows ``[gate; up]``)."""
    return _llama_like_layout(m, ours, {"attn_norm": "input_layernorm", "ff_norm": "post_attention_layernorm"},
                              phi3_fused=True)


def _llama_like_layout(
    m: dict[str, Any], ours: Mapping[str, Shape], norms: Mapping[str, str], *, phi3_fused: bool = False
) -> Layout:
    """``model.layers.i.self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj`` and the block's norms
    (blockforge name -> transformers name; those the block has), ``model.embed_tokens``, ``model.norm``,
    ``lm_head``. ``phi3_fused``: Phi-3's ``qkv_proj`` and ``gate_up_proj`` instead of the separate layers."""
    p = "model."
    attn = m["block"]["attention"]
    heads = attn["heads"]
    head_dim = attn.get("head_dim") or m["d_model"] // heads
    kv_heads = attn.get("kv_heads") or heads
    q, kv = heads * head_dim, kv_heads * head_dim
    rules = [Rule("embedding.weight", (p + "embed_tokens.weight",))]
    for i in range(m["n_layers"]):
        h, b = f"{p}layers.{i}.", f"blocks.{i}."
        a = f"{h}self_attn."
        for mine, theirs in norms.items():
            if f"{b}{mine}.weight" in ours:  # a parallel block may share one norm (StableLM)
                rules += linear(ours, f"{b}{mine}", f"{h}{theirs}")
        if phi3_fused:
            mine = ("qkv",) if f"{b}attention.qkv.weight" in ours else ("q", "kv")
            rules += split_rows(ours, f"{a}qkv_proj", tuple(f"{b}attention.{x}" for x in mine))
        elif f"{b}attention.qkv.weight" in ours:
            rules += fused(ours, f"{b}attention.qkv", (f"{a}q_proj", f"{a}k_proj", f"{a}v_proj"), (q, kv, kv))
        else:
            rules += linear(ours, f"{b}attention.q", f"{a}q_proj")
            rules += fused(ours, f"{b}attention.kv", (f"{a}k_proj", f"{a}v_proj"), (kv, kv))
        rules += linear(ours, f"{b}attention.out", f"{a}o_proj")
        for qk in ("q_norm", "k_norm"):  # Qwen3's per-head QK-norm
            if f"{b}attention.{qk}.weight" in ours:
                rules += linear(ours, f"{b}attention.{qk}", f"{a}{qk}")
        if f"{b}feedforward.router.weight" in ours:  # Mixtral / Qwen3-MoE: router and stacked experts
            rules.append(Rule(f"{b}feedforward.router.weight", (f"{h}mlp.gate.weight",)))
            n = sum(1 for k in ours if k.startswith(f"{b}feedforward.experts.") and k.endswith(".up.weight"))
            for e in range(n):
                x = f"{b}feedforward.experts.{e}."
                rules.append(Rule(x + "gate.weight", (f"{h}mlp.experts.gate_up_proj",), "expert", expert=(e, 0, 2)))
                rules.append(Rule(x + "up.weight", (f"{h}mlp.experts.gate_up_proj",), "expert", expert=(e, 1, 2)))
                rules.append(Rule(x + "down.weight", (f"{h}mlp.experts.down_proj",), "expert", expert=(e, 0, 1)))
            if f"{b}feedforward.shared.gate.weight" in ours:  # Qwen2-MoE's gated shared expert
                for part in ("gate", "up", "down"):
                    rules += linear(ours, f"{b}feedforward.shared.{part}", f"{h}mlp.shared_expert.{part}_proj")
                rules += linear(ours, f"{b}feedforward.shared_gate", f"{h}mlp.shared_expert_gate")
        elif phi3_fused:  # gate_up_proj, down_proj
            rules += split_rows(ours, f"{h}mlp.gate_up_proj", (f"{b}feedforward.gate", f"{b}feedforward.up"))
            rules += linear(ours, f"{b}feedforward.down", f"{h}mlp.down_proj")
        elif f"{b}feedforward.gate.weight" in ours:  # gated: gate_proj, up_proj, down_proj
            for part in ("gate", "up", "down"):
                rules += linear(ours, f"{b}feedforward.{part}", f"{h}mlp.{part}_proj")
        else:  # StarCoder2's plain MLP
            rules += linear(ours, f"{b}feedforward.up", f"{h}mlp.c_fc")
            rules += linear(ours, f"{b}feedforward.down", f"{h}mlp.c_proj")
    rules += linear(ours, "final_norm", p + "norm")
    aliases: dict[str, str] = {}
    if m["head"]["type"] == "classifier":  # <Family>ForSequenceClassification
        rules += linear(ours, "head.proj", "score")
    elif m["head"].get("tied"):
        aliases["lm_head.weight"] = p + "embed_tokens.weight"
    else:
        rules += linear(ours, "head.proj", "lm_head")
    return Layout(tuple(rules), aliases, (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",), p)


def bert_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """BertModel (``hidden`` head; keys without prefix) and BertForSequenceClassification (``bert.``).

    BERT's separate ``query``/``key``/``value`` become the fused ``qkv`` (rows ``[q; k; v]``).
    """
    kind = m["head"]["type"]
    p = "bert." if kind != "hidden" else ""  # the task models nest BertModel under ``bert.``
    e = p + "embeddings."
    d = m["d_model"]
    rules = [Rule("embedding.weight", (e + "word_embeddings.weight",)),
             Rule("positional.weight", (e + "position_embeddings.weight",))]
    if "embedding.token_type.weight" in ours:
        rules.append(Rule("embedding.token_type.weight", (e + "token_type_embeddings.weight",)))
    rules += linear(ours, "embedding_norm", e + "LayerNorm")
    for i in range(m["n_layers"]):
        h, b = f"{p}encoder.layer.{i}.", f"blocks.{i}."
        a = f"{h}attention."
        rules += fused(ours, f"{b}attention.qkv", (f"{a}self.query", f"{a}self.key", f"{a}self.value"), (d, d, d))
        rules += linear(ours, f"{b}attention.out", f"{a}output.dense")
        rules += linear(ours, f"{b}attn_norm", f"{a}output.LayerNorm")
        rules += linear(ours, f"{b}feedforward.up", f"{h}intermediate.dense")
        rules += linear(ours, f"{b}feedforward.down", f"{h}output.dense")
        rules += linear(ours, f"{b}ff_norm", f"{h}output.LayerNorm")
    ignored: tuple[str, ...] = ()
    aliases: dict[str, str] = {}
    if kind == "classifier":
        rules += linear(ours, "head.pool", p + "pooler.dense")
        rules += linear(ours, "head.proj", "classifier")
    elif kind == "masked_lm":  # BertForMaskedLM: no pooler; the decoder is tied to the word embeddings
        c = "cls.predictions."
        rules += linear(ours, "head.dense", c + "transform.dense")
        rules += linear(ours, "head.norm", c + "transform.LayerNorm")
        if m["head"].get("tied", True):
            rules.append(Rule("head.bias", (c + "bias",)))
            aliases = {c + "decoder.weight": e + "word_embeddings.weight", c + "decoder.bias": c + "bias"}
        else:
            rules += [Rule("head.proj.weight", (c + "decoder.weight",)), Rule("head.proj.bias", (c + "bias",))]
            aliases = {c + "decoder.bias": c + "bias"}
    else:  # hidden states: BertModel's pooler output is not part of the compiled model
        ignored = (r"pooler\.dense\.(weight|bias)",)
    return Layout(tuple(rules), aliases, ignored, "bert.")


def gpt_neox_layout(m: dict[str, Any], ours: Mapping[str, Shape]) -> Layout:
    """GPTNeoXForCausalLM (transformers 5 names; a checkpoint's older ``embed_out.weight`` loads as
    ``lm_head.weight``). The fused ``query_key_value`` interleaves heads (``per_head_qkv``); parallel
    and sequential residual blocks have the same names (``input_layernorm`` is ``attn_norm``,
    ``post_attention_layernorm`` is ``ff_norm``)."""
    p = "gpt_neox."
    heads = m["block"]["attention"]["heads"]
    rules = [Rule("embedding.weight", (p + "embed_in.weight",))]
    for i in range(m["n_layers"]):
        h, b = f"{p}layers.{i}.", f"blocks.{i}."
        rules += linear(ours, f"{b}attn_norm", f"{h}input_layernorm")
        rules += linear(ours, f"{b}ff_norm", f"{h}post_attention_layernorm")
        for part in ("weight", "bias"):
            if f"{b}attention.qkv.{part}" in ours:
                rules.append(Rule(f"{b}attention.qkv.{part}", (f"{h}attention.query_key_value.{part}",),
                                  "per_head_qkv", heads=heads))
        rules += linear(ours, f"{b}attention.out", f"{h}attention.dense")
        rules += linear(ours, f"{b}feedforward.up", f"{h}mlp.dense_h_to_4h")
        rules += linear(ours, f"{b}feedforward.down", f"{h}mlp.dense_4h_to_h")
    rules += linear(ours, "final_norm", p + "final_layer_norm")
    aliases: dict[str, str] = {}
    if m["head"].get("tied"):
        aliases["lm_head.weight"] = p + "embed_in.weight"
    else:
        rules += linear(ours, "head.proj", "lm_head")
    # buffers of old checkpoints (causal mask, rotary frequencies): no weights
    ignored = (r"gpt_neox\.layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)",)
    return Layout(tuple(rules), aliases, ignored, p, {"embed_out.weight": "lm_head.weight"})


LayoutFn = Callable[[dict[str, Any], Mapping[str, Shape]], Layout]
LAYOUTS: Mapping[str, LayoutFn] = {
    "gpt2": gpt2_layout, "llama": llama_layout, "mistral": llama_layout, "qwen2": llama_layout, "qwen3": llama_layout,
    "gemma": llama_layout, "starcoder2": llama_layout, "mixtral": llama_layout, "qwen3_moe": llama_layout,
    "bert": bert_layout, "phi3": phi3_layout, "stablelm": llama_layout, "olmo2": olmo2_layout, "gpt_bigcode": gpt_bigcode_layout, "gptj": gptj_layout, "qwen2_moe": llama_layout,
    "gemma2": gemma2_layout, "gpt_neox": gpt_neox_layout,
}
"""Layout builders by transformers ``model_type``; each takes the canonical ``model`` spec dict and the
shapes of the compiled model's state dict (biases are mapped where the model has them)."""
