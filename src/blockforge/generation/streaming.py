"""Streaming generated text to a terminal as tokens arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor


class TextStreamer:
    """Decodes one row's tokens as they arrive and writes each new piece of text.

    Text is written only up to the last complete character: a token that ends in the middle of a UTF-8
    sequence (the decoder yields ``\\ufffd``) waits for the next one.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (``decode``), or None to write token ids separated by spaces.
        write: called with each new piece of text (e.g. ``sys.stdout.write``).
        skip_special_tokens: leave special tokens (end-of-sequence, turn markers) out of the text.
        stop_strings: texts that end the reply; text from the first one on is not written.
    """

    def __init__(self, tokenizer: Any, write: Callable[[str], Any], *, skip_special_tokens: bool = True,
                 stop_strings: tuple[str, ...] = ()) -> None:
        self.tokenizer, self.write = tokenizer, write
        self.skip_special_tokens = skip_special_tokens
        self.stop_strings = stop_strings
        self.ids: list[int] = []
        self.printed = 0
        self.text = ""

    def put(self, value: Tensor) -> None:
        """Args: value: ``(B,)`` the new tokens; row 0 is streamed."""
        token = int(value.reshape(-1)[0])
        self.ids.append(token)
        if self.tokenizer is None:
            self.write(f"{token} ")
            return
        text = self.tokenizer.decode(self.ids, skip_special_tokens=self.skip_special_tokens)
        cut = min((i for i in (text.find(s) for s in self.stop_strings) if i >= 0), default=len(text))
        if cut == len(text) and text.endswith("\ufffd"):
            return  # an incomplete character: wait for the rest of it
        self.text = text[:cut]
        if len(self.text) > self.printed:
            self.write(self.text[self.printed:])
            self.printed = len(self.text)

    def end(self) -> None:
        """Finish the line."""
        self.write("\n")
