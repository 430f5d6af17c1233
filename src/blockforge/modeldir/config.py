"""Generation defaults and the chat template stored in a model directory (``generation.json``). Torch-free."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChatTemplate(BaseModel):
    """Turn markers of a chat: each turn is written ``<role marker><text><end>``.

    A conversation becomes ``system + text + end`` (when there is a system prompt), then for each turn
    ``user + text + end`` or ``assistant + text + end``, and finally ``assistant`` (the model writes the
    reply). The reply ends at ``end`` (a stop sequence) or at the end-of-sequence token.

    Attributes:
        system: marker opening a system prompt.
        user: marker opening a user turn.
        assistant: marker opening an assistant turn.
        end: text closing every turn.
        bos: text put once before the whole conversation (e.g. a begin-of-sequence token), or "".
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    system: str = "<|system|>\n"
    user: str = "<|user|>\n"
    assistant: str = "<|assistant|>\n"
    end: str = "\n"
    bos: str = ""

    def render(self, turns: list[tuple[str, str]], *, system: str | None = None) -> str:
        """The prompt text for a conversation, ending with the assistant marker.

        Args:
            turns: ``(role, text)`` pairs, role ``user`` or ``assistant``, oldest first.
            system: a system prompt, or None.

        Returns:
            The text to tokenise and continue.

        Raises:
            ValueError: a role other than ``user`` or ``assistant``.
        """
        parts = [self.bos]
        if system:
            parts.append(self.system + system + self.end)
        for role, text in turns:
            if role not in ("user", "assistant"):
                raise ValueError(f"a chat turn's role is 'user' or 'assistant', got {role!r}")
            parts.append(getattr(self, role) + text + self.end)
        parts.append(self.assistant)
        return "".join(parts)


class GenerationConfig(BaseModel):
    """Generation defaults of a model (the names of transformers' ``GenerationConfig``).

    Attributes:
        max_new_tokens: tokens generated at most.
        do_sample: sample (True) or take the most likely token (False, greedy).
        temperature: divides the logits before sampling (> 0).
        top_k: sample among the ``top_k`` most likely tokens (0 = all).
        top_p: sample among the smallest set of tokens whose probability reaches ``top_p`` (1.0 = all).
        repetition_penalty: CTRL's penalty on tokens already present (1.0 = none).
        eos_token_id: token(s) that end a sequence, or None.
        pad_token_id: token written after a sequence has ended, or None (then ``eos_token_id``).
        bos_token_id: begin-of-sequence token, or None.
        decoder_start_token_id: the first decoder token of an encoder-decoder model, or None.
        stop: stop sequences (text), checked on the decoded continuation.
        chat_template: turn markers for ``blockforge chat``, or None.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    max_new_tokens: int = Field(default=64, ge=1)
    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    top_k: int = Field(default=0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False)
    repetition_penalty: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    decoder_start_token_id: int | None = None
    stop: list[str] = Field(default_factory=list)
    chat_template: ChatTemplate | None = None

    @model_validator(mode="after")
    def _non_negative_ids(self) -> GenerationConfig:
        ids = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        for value in (*ids, self.pad_token_id, self.bos_token_id, self.decoder_start_token_id):
            if value is not None and value < 0:
                raise ValueError(f"token ids are non-negative, got {value}")
        return self

    def eos_ids(self) -> list[int]:
        """``eos_token_id`` as a list (empty when None)."""
        if self.eos_token_id is None:
            return []
        return list(self.eos_token_id) if isinstance(self.eos_token_id, list) else [self.eos_token_id]


__all__ = ["ChatTemplate", "GenerationConfig"]
