"""The chat template: how a conversation becomes one text, with turn markers the tokenizer keeps whole.

``<|user|>\\nHello<|end|>\\n<|assistant|>\\nHi!<|end|>\\n``: each turn is its role's marker, a newline, the
content and ``<|end|>``. A prompt for generation ends with the assistant's marker and newline, and the
model's reply ends at ``<|end|>``.
"""

from __future__ import annotations

from collections.abc import Sequence

MARKERS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END = "<|end|>"
EOS = "<|endoftext|>"
SPECIAL_TOKENS = (EOS, *MARKERS.values(), END)
"""Special tokens of a trained BPE tokenizer: end of document (also padding), the turn markers."""


def render(messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = False) -> str:
    """A conversation as text.

    Args:
        messages: ``[{"role": "user"|"assistant"|"system", "content": str}, ...]``.
        add_generation_prompt: end with the assistant's marker, for the model to continue.

    Returns:
        The rendered text.

    Raises:
        ValueError: an unknown role.
    """
    out = []
    for m in messages:
        if m["role"] not in MARKERS:
            raise ValueError(f"unknown role {m['role']!r}; roles are {', '.join(MARKERS)}")
        out.append(f"{MARKERS[m['role']]}\n{m['content']}{END}\n")
    if add_generation_prompt:
        out.append(f"{MARKERS['assistant']}\n")
    return "".join(out)
