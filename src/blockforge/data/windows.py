"""Token windows: documents tokenised, split into training and held-out parts, packed into fixed-length
sequences, and visited in a seeded order that depends on nothing but the seed and the step.

Packing (GPT-2/3): every document is encoded and followed by the end-of-document token, the documents are
concatenated into one stream, and the stream is cut into windows of ``seq_len + extra`` tokens with a
stride of ``seq_len`` (``extra = 1`` for next-token prediction, so every token is a target exactly once).
Classification keeps one example per window, truncated or padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from blockforge.data.corpus import DataError, Doc


def doc_text(doc: Doc, template: Any = None) -> str:
    """The text of a document; a conversation rendered with the chat template.

    Args:
        doc: the document.
        template: a chat template with ``bos`` and ``user``, ``assistant``, ``system`` and ``end`` markers
            (the model directory's ``ChatTemplate``); None: :func:`blockforge.data.chat.chat_template`.

    Returns:
        The text.
    """
    if doc.messages is None:
        return doc.text or ""
    if template is None:
        from blockforge.data.chat import chat_template

        template = chat_template()
    return template.bos + "".join(getattr(template, m["role"]) + m["content"] + template.end for m in doc.messages)


def split_documents(docs: Sequence[Doc], *, fraction: float, seed: int) -> tuple[list[Doc], list[Doc]]:
    """Hold out a seeded share of the documents.

    Args:
        docs: every document.
        fraction: share held out (at least one document when > 0 and there are two or more).
        seed: seed of the choice.

    Returns:
        ``(training, held_out)``, each in corpus order.
    """
    n = len(docs)
    k = round(n * fraction)
    if fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    else:
        k = 0
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    held = set(order[:k])
    return [d for i, d in enumerate(docs) if i not in held], [d for i, d in enumerate(docs) if i in held]


@dataclass
class Windows:
    """Fixed-length token windows and what the objective may score.

    Attributes:
        tokens: ``(N, L)`` token ids.
        targets: ``(N, L)`` 1 where a token may be a target, 0 for padding and special tokens.
        mask: ``(N, L)`` 1 for a token, 0 for padding.
        label: ``(N,)`` class ids (classification), or None.
    """

    tokens: Tensor
    targets: Tensor
    mask: Tensor
    label: Tensor | None = None

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def batch(self, indices: Sequence[int]) -> dict[str, Tensor]:
        """The windows at ``indices`` as a batch: ``tokens``, ``targets``, ``mask`` (``(B, L)``), ``label`` (``(B,)``)."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        out = {"tokens": self.tokens[idx], "targets": self.targets[idx], "mask": self.mask[idx]}
        if self.label is not None:
            out["label"] = self.label[idx]
        return out


def make_windows(docs: Sequence[Doc], tokenizer: Any, *, seq_len: int, extra: int, specials: dict[str, int],
                 classification: bool = False, template: Any = None) -> Windows:
    """Tokenise and pack documents.

    Args:
        docs: the documents.
        tokenizer: a ``tokenizers.Tokenizer``.
        seq_len: tokens per model input.
        extra: tokens beyond ``seq_len`` per window (1 for next-token prediction).
        specials: ``{"eos": id, "pad": id, ...}`` (:func:`blockforge.data.tokenizer.special_ids`).
        classification: one padded example per document, with its label, instead of packing.
        template: the chat template for conversations.

    Returns:
        The windows; a corpus shorter than one window gives one padded window.

    Raises:
        DataError: the tokenizer has no end-of-document token, or there is no text.
    """
    if not docs:
        return Windows(*(torch.zeros(0, seq_len + extra, dtype=torch.long) for _ in range(3)))
    eos, pad = specials.get("eos"), specials.get("pad", specials.get("eos", 0))
    encoded = tokenizer.encode_batch([doc_text(d, template) for d in docs], add_special_tokens=False)
    special = set(specials.values())
    if classification:
        n, length = len(docs), seq_len
        tokens = torch.full((n, length), pad, dtype=torch.long)
        mask = torch.zeros((n, length), dtype=torch.long)
        for i, enc in enumerate(encoded):
            ids = enc.ids[:length]
            tokens[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[i, : len(ids)] = 1
        label = torch.tensor([d.label if d.label is not None else -100 for d in docs], dtype=torch.long)
        return Windows(tokens, mask.clone(), mask, label)
    if eos is None:
        raise DataError("the tokenizer has no end-of-document token (<|endoftext|> or [SEP]) to separate documents")
    stream: list[int] = []
    for enc in encoded:
        stream.extend(enc.ids)
        stream.append(eos)
    length = seq_len + extra
    ids = torch.tensor(stream, dtype=torch.long)
    if ids.numel() < length:
        tokens = torch.full((1, length), pad, dtype=torch.long)
        tokens[0, : ids.numel()] = ids
        mask = torch.zeros((1, length), dtype=torch.long)
        mask[0, : ids.numel()] = 1
    else:
        n = (ids.numel() - extra) // seq_len
        tokens = ids.unfold(0, length, seq_len)[:n].clone()  # (N, L), stride seq_len
        mask = torch.ones_like(tokens)
    targets = mask.clone()
    if extra == 0:  # masked objectives never choose a document separator
        targets[torch.isin(tokens, torch.tensor(sorted(special), dtype=torch.long))] = 0
    return Windows(tokens, targets, mask)


class Order:
    """The order in which training windows are visited: epoch ``e`` is a permutation seeded by ``(seed, e)``.

    A step's windows depend only on the seed and the step, so a resumed run reads what an uninterrupted
    one would have read.

    Args:
        n: the number of windows.
        seed: the training seed.
        shuffle: permute each epoch (else corpus order).
    """

    def __init__(self, n: int, *, seed: int, shuffle: bool = True) -> None:
        if n <= 0:
            raise DataError("no training windows: the training split is empty")
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self._epoch: int | None = None
        self._perm: list[int] = []

    def _permutation(self, epoch: int) -> list[int]:
        if self._epoch != epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (1 << 63))
                self._perm = torch.randperm(self.n, generator=g).tolist()
            else:
                self._perm = list(range(self.n))
            self._epoch = epoch
        return self._perm

    def indices(self, start: int, count: int) -> list[int]:
        """Windows number ``start .. start + count - 1`` of the endless sequence of epochs.

        Args:
            start: how many windows were read before (``step * batch_size``).
            count: how many to read.

        Returns:
            Window indices.
        """
        out = []
        for k in range(start, start + count):
            out.append(self._permutation(k // self.n)[k % self.n])
        return out
