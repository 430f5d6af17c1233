"""The turn markers of conversations a model is trained on, and the chat template they make.

A trained BPE tokenizer keeps each marker as one token, and a conversation is rendered with the model
directory's :class:`~blockforge.modeldir.ChatTemplate` (``<|user|>\\nHello<|end|>\\n<|assistant|>\\nHi!<|end|>\\n``),
the same template ``blockforge chat`` renders prompts with, so chatting continues text the model was
trained on. A reply ends at the ``<|end|>`` token.
"""

from __future__ import annotations

from typing import Any

MARKERS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END = "<|end|>"
EOS = "<|endoftext|>"
SPECIAL_TOKENS = (EOS, *MARKERS.values(), END)
"""Special tokens of a trained BPE tokenizer: end of document (also padding), the turn markers."""


def chat_template() -> Any:
    """The chat template of conversations: each role's marker and a newline, the text, ``<|end|>`` and a newline.

    Returns:
        A :class:`~blockforge.modeldir.ChatTemplate`.
    """
    from blockforge.modeldir import ChatTemplate

    return ChatTemplate(system=MARKERS["system"] + "\n", user=MARKERS["user"] + "\n",
                        assistant=MARKERS["assistant"] + "\n", end=END + "\n")
