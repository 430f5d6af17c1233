"""What ``blockforge new-plugin --kind KIND`` writes for each kind: a small, working example component.

Each entry gives the parameter model's body, the factory's call, the ``nn.Module`` and its two tests
(the module against its formula; the component built through blockforge). ``{name}``, ``{cls}`` and
``{pkg}`` are filled in by :func:`blockforge.cli.new_plugin.render`; literal braces are doubled.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindTemplate:
    """The kind-specific parts of a scaffolded plugin.

    Attributes:
        summary: one line: what the example component computes.
        params: the body of the parameter model (fields with docstrings).
        build: the factory's return expression (``ctx`` and ``p`` in scope).
        module: the ``nn.Module`` class body after ``class {cls}(nn.Module):``.
        formula_test: the body of ``test_matches_the_formula``.
        built_test: the body of ``test_loaded_through_the_entry_point_and_built`` after the plugin loads.
        use: how a spec names it.
        call: how its kind is called (for the plugin's comment).
    """

    summary: str
    params: str
    build: str
    module: str
    formula_test: str
    built_test: str
    use: str
    call: str


NORM = KindTemplate(
    summary="ScaleNorm: g * x / ||x||, one learned scalar g",
    params='''    eps: Annotated[float, Field(gt=0.0)] = 1e-5
    """Lower bound on the norm, for numerical stability."""''',
    build="{cls}(d_model=ctx.d_model, eps=p.eps)",
    module='''    """ScaleNorm: ``g * x / max(||x||, eps)`` over the last dimension.

    Args:
        d_model: width of the last dimension (``g`` starts at ``sqrt(d_model)``).
        eps: lower bound on the norm.

    Raises:
        ValueError: ``d_model`` or ``eps`` is not positive.
    """

    def __init__(self, *, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        if d_model <= 0 or eps <= 0:
            raise ValueError(f"d_model and eps must be positive, got {{d_model}}, {{eps}}")
        self.d_model, self.eps = d_model, eps
        self.g = nn.Parameter(torch.empty(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.g, math.sqrt(self.d_model))

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(..., C)``. Returns: ``(..., C)``."""
        return self.g * x / x.norm(dim=-1, keepdim=True).clamp_min(self.eps)  # (..., C)''',
    formula_test='''    m = {cls}(d_model=2)
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(m(x), torch.tensor([[3.0, 4.0]]) / 5.0 * math.sqrt(2), atol=1e-6, rtol=1e-6)''',
    built_test='''    m = build_component("norm", {{"type": "{name}"}}, d_model=8, registries=ps.registries)
    y = m(torch.randn(2, 3, 8))
    assert y.shape == (2, 3, 8)
    torch.testing.assert_close(y.norm(dim=-1), torch.full((2, 3), math.sqrt(8)), atol=1e-5, rtol=1e-5)''',
    use="norm: {name}",
    call="m(x) with x: (B, T, C), returning (B, T, C)",
)

ACTIVATION = KindTemplate(
    summary="Swish-beta: x * sigmoid(beta * x) (beta = 1 is SiLU)",
    params='''    beta: Annotated[float, Field(gt=0.0)] = 1.0
    """Slope of the sigmoid gate; 1.0 gives SiLU."""''',
    build="{cls}(beta=p.beta)",
    module='''    """Swish-beta: ``x * sigmoid(beta * x)``, element-wise.

    Args:
        beta: slope of the gate (positive).
    """

    def __init__(self, *, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(..., C)``. Returns: ``(..., C)``."""
        return x * torch.sigmoid(self.beta * x)  # (..., C)''',
    formula_test='''    x = torch.linspace(-4.0, 4.0, 9)
    torch.testing.assert_close({cls}(beta=2.0)(x), x / (1 + torch.exp(-2.0 * x)))
    torch.testing.assert_close({cls}()(x), torch.nn.functional.silu(x))''',
    built_test='''    m = build_component("activation", {{"type": "{name}", "beta": 1.0}}, d_model=8, registries=ps.registries)
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(m(x), torch.nn.functional.silu(x))
    assert math.isfinite(float(m(x).sum()))''',
    use="activation: {{type: {name}, beta: 1.5}}",
    call="m(x) with x: (B, T, C), returning (B, T, C)",
)

FEEDFORWARD = KindTemplate(
    summary="a two-layer MLP with a squared-ReLU hidden layer (Primer)",
    params='''    hidden: Annotated[int, Field(gt=0)]
    """Width of the hidden layer (often 4 x d_model)."""
    bias: bool = True
    """Biases on both projections."""''',
    build="{cls}(d_model=ctx.d_model, hidden=p.hidden, bias=p.bias)",
    module='''    """``w2(relu(w1 x) ** 2)``: the squared-ReLU MLP of Primer (So et al., 2021).

    Args:
        d_model: input and output width.
        hidden: hidden width.
        bias: biases on both projections.
    """

    def __init__(self, *, d_model: int, hidden: int, bias: bool = True) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden, bias=bias)
        self.w2 = nn.Linear(hidden, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``."""
        return self.w2(torch.relu(self.w1(x)) ** 2)  # (B, T, C)''',
    formula_test='''    m = {cls}(d_model=4, hidden=8)
    x = torch.randn(2, 3, 4)
    h = torch.clamp(x @ m.w1.weight.T + m.w1.bias, min=0.0) ** 2
    torch.testing.assert_close(m(x), h @ m.w2.weight.T + m.w2.bias, atol=1e-6, rtol=1e-6)''',
    built_test='''    m = build_component("feedforward", {{"type": "{name}", "hidden": 16}}, d_model=8, registries=ps.registries)
    assert m(torch.randn(2, 3, 8)).shape == (2, 3, 8)
    assert sum(p.numel() for p in m.parameters()) == 8 * 16 + 16 + 16 * 8 + 8
    assert math.isfinite(float(m(torch.randn(1, 2, 8)).sum()))''',
    use="feedforward: {{type: {name}, hidden: 2048}}",
    call="m(x) with x: (B, T, C), returning (B, T, C)",
)

POSITIONAL = KindTemplate(
    summary="learned absolute positions, scaled: x + alpha * p[t]",
    params='''    alpha: Annotated[float, Field(gt=0.0)] = 1.0
    """Scale of the learned position vectors added to the embeddings."""''',
    build="{cls}(max_len=ctx.max_len, d_model=ctx.d_model, alpha=p.alpha)",
    module='''    """Learned absolute positions added to the token embeddings: ``x + alpha * p[:T]``.

    Args:
        max_len: longest sequence.
        d_model: width.
        alpha: scale of the position vectors.
    """

    def __init__(self, *, max_len: int, d_model: int, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.table = nn.Parameter(torch.empty(max_len, d_model))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.table, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``."""
        return x + self.alpha * self.table[: x.shape[1]]  # (B, T, C)''',
    formula_test='''    m = {cls}(max_len=5, d_model=4, alpha=0.5)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(m(x), x + 0.5 * m.table[:3].unsqueeze(0))''',
    built_test='''    m = build_component("positional", {{"type": "{name}"}}, d_model=8, max_len=16, registries=ps.registries)
    x = torch.zeros(2, 5, 8)
    assert m(x).shape == (2, 5, 8) and m.table.shape == (16, 8)
    assert math.isfinite(float(m(x).sum()))''',
    use="positional: {name}",
    call="m(x) with x: (B, T, C), the embeddings, returning (B, T, C)",
)

EMBEDDING = KindTemplate(
    summary="token embeddings with a fixed output scale: scale * E[ids]",
    params='''    scale: Annotated[float, Field(gt=0.0)] = 1.0
    """Factor the looked-up vectors are multiplied by."""''',
    build="{cls}(vocab_size=ctx.vocab_size, d_model=ctx.d_model, scale=p.scale)",
    module='''    """Token embeddings times a constant: ``scale * E[ids]``.

    Args:
        vocab_size: number of token ids.
        d_model: width.
        scale: output factor.
    """

    def __init__(self, *, vocab_size: int, d_model: int, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, ids: Tensor) -> Tensor:
        """Args: ids: ``(B, T)`` token ids. Returns: ``(B, T, C)``."""
        return self.scale * self.weight[ids]  # (B, T, C)''',
    formula_test='''    m = {cls}(vocab_size=10, d_model=4, scale=2.0)
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(m(ids), 2.0 * torch.nn.functional.embedding(ids, m.weight))''',
    built_test='''    m = build_component("embedding", {{"type": "{name}"}}, d_model=8, vocab_size=11, registries=ps.registries)
    assert m(torch.tensor([[0, 10, 3]])).shape == (1, 3, 8)
    assert math.isfinite(float(m(torch.tensor([[1]])).sum()))''',
    use="embedding: {name}",
    call="m(ids) with ids: (B, T), returning (B, T, C)",
)

HEAD = KindTemplate(
    summary="an output projection with a temperature: (x W^T) / tau",
    params='''    tau: Annotated[float, Field(gt=0.0)] = 1.0
    """Logits are divided by this temperature."""''',
    build="{cls}(d_model=ctx.d_model, vocab_size=ctx.vocab_size, tau=p.tau)",
    module='''    """A linear output projection to the vocabulary, divided by a temperature: ``(x W^T) / tau``.

    Args:
        d_model: width.
        vocab_size: number of outputs.
        tau: temperature.
    """

    def __init__(self, *, d_model: int, vocab_size: int, tau: float = 1.0) -> None:
        super().__init__()
        self.tau = tau
        self.proj = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, x: Tensor, *, embedding: nn.Module | None = None, mask: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``; embedding, mask: unused here. Returns: ``(B, T, V)``."""
        return self.proj(x) / self.tau  # (B, T, V)''',
    formula_test='''    m = {cls}(d_model=4, vocab_size=6, tau=2.0)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(m(x), x @ m.proj.weight.T / 2.0)''',
    built_test='''    m = build_component("head", {{"type": "{name}"}}, d_model=8, vocab_size=11, registries=ps.registries)
    assert m(torch.randn(2, 3, 8), embedding=None, mask=None).shape == (2, 3, 11)''',
    use="head: {{type: {name}, tau: 1.0}}",
    call="m(x, embedding=embedding_module, mask=mask) with x: (B, T, C), returning (B, T, V)",
)

TEMPLATES: dict[str, KindTemplate] = {
    "norm": NORM, "activation": ACTIVATION, "feedforward": FEEDFORWARD, "positional": POSITIONAL,
    "embedding": EMBEDDING, "head": HEAD,
}
"""Kind -> template. Kinds not here (attention, block, model) compose or attend; their scaffolds are
the example plugins (``plugins/blockforge-linformer`` for a sequence mixer)."""

__all__ = ["TEMPLATES", "KindTemplate"]
