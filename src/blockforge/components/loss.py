"""Training objectives: each turns a batch of token windows into model inputs and labels, and scores the
model's output against the labels.

Every loss is called as ``loss(output, labels, aux_loss=None)`` and returns the mean over its counted
targets (labels equal to :data:`IGNORE` are not counted), so the trainer can weight micro-batches by
their share of the counted targets and match one large batch (gradient accumulation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IGNORE = -100
"""Label of a position that is not scored (padding, an unmasked token); ``F.cross_entropy``'s
``ignore_index`` default."""


def _z_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean of ``logsumexp(logits)^2`` over the counted positions (PaLM's z-loss, Chowdhery et al. 2022, 5)."""
    lse = torch.logsumexp(logits.float(), dim=-1)  # (N,)
    keep = labels != IGNORE
    return (lse[keep] ** 2).sum() / keep.sum().clamp(min=1)


class NextTokenLoss(nn.Module):
    """Causal language modelling: predict token ``t + 1`` from tokens ``0..t`` (cross-entropy over the vocabulary).

    Args:
        label_smoothing: mass spread uniformly over the vocabulary (Szegedy et al. 2016; the original
            Transformer used 0.1).
        z_loss: weight of ``logsumexp(logits)^2`` (PaLM: 1e-4), which keeps logits from drifting; 0 for none.
        aux_loss_weight: weight of the model's auxiliary loss (MoE load balancing; Switch Transformer: 0.01).
    """

    extra_token = 1
    """A training window holds ``seq_len + 1`` tokens: inputs are the first ``seq_len``, labels the last."""

    def __init__(self, *, label_smoothing: float = 0.0, z_loss: float = 0.0, aux_loss_weight: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing, self.z_loss, self.aux_loss_weight = label_smoothing, z_loss, aux_loss_weight

    def prepare(self, batch: dict[str, Tensor], *, generator: torch.Generator | None = None,
                special: dict[str, int] | None = None) -> dict[str, Tensor]:
        """Model inputs and labels from a batch of windows.

        Args:
            batch: ``tokens (B, T + 1)`` ids, ``targets (B, T + 1)`` (1 where a token may be predicted; 0 for
                padding or a prompt turn) and ``mask (B, T + 1)`` (1 for a token, 0 for padding).
            generator: unused.
            special: unused.

        Returns:
            ``input_ids (B, T)``, ``attention_mask (B, T)`` and ``labels (B, T)`` (``labels[:, t]`` is
            ``tokens[:, t + 1]``, or ``IGNORE``).
        """
        tokens, targets = batch["tokens"], batch["targets"]
        labels = tokens[:, 1:].masked_fill(targets[:, 1:] == 0, IGNORE)  # (B, T)
        return {"input_ids": tokens[:, :-1], "attention_mask": batch["mask"][:, :-1], "labels": labels}

    def forward(self, logits: Tensor, labels: Tensor, *, aux_loss: Tensor | None = None) -> Tensor:
        """Args:
            logits: ``(B, T, V)``.
            labels: ``(B, T)`` next-token ids, ``IGNORE`` where not scored.
            aux_loss: the model's auxiliary loss of this forward, or None.

        Returns:
            The scalar loss: mean cross-entropy over the scored positions, plus the weighted extras.
        """
        flat = logits.reshape(-1, logits.shape[-1]).float()  # (B*T, V)
        target = labels.reshape(-1)  # (B*T,)
        loss = F.cross_entropy(flat, target, ignore_index=IGNORE, label_smoothing=self.label_smoothing)
        if self.z_loss:
            loss = loss + self.z_loss * _z_loss(flat, target)
        if self.aux_loss_weight and aux_loss is not None:
            loss = loss + self.aux_loss_weight * aux_loss.float()
        return loss


class MaskedLMLoss(nn.Module):
    """Masked language modelling (BERT, Devlin et al. 2019, 3.1): a share of the tokens is corrupted and
    predicted from both sides; of those, 80 % become the mask token, 10 % a random token, 10 % stay.

    Args:
        mask_probability: share of (non-special) tokens chosen for prediction.
        label_smoothing: as for :class:`NextTokenLoss`.
        vocab_size: the model's vocabulary (random replacements are drawn from it).
    """

    extra_token = 0

    def __init__(self, *, mask_probability: float = 0.15, label_smoothing: float = 0.0, vocab_size: int) -> None:
        super().__init__()
        self.mask_probability, self.label_smoothing, self.vocab_size = mask_probability, label_smoothing, vocab_size

    def prepare(self, batch: dict[str, Tensor], *, generator: torch.Generator | None = None,
                special: dict[str, int] | None = None) -> dict[str, Tensor]:
        """Corrupt a batch and label the corrupted positions.

        Args:
            batch: ``tokens (B, T)``, ``targets (B, T)`` (1 where a token may be chosen; 0 for padding and
                special tokens) and ``mask (B, T)``.
            generator: the random stream of the choice (seeded by the trainer, so runs repeat).
            special: must hold ``"mask"``, the id of the mask token.

        Returns:
            ``input_ids (B, T)`` (corrupted), ``attention_mask (B, T)`` and ``labels (B, T)`` (the original
            ids where chosen, else ``IGNORE``).

        Raises:
            ValueError: the tokenizer has no mask token.
        """
        tokens, targets = batch["tokens"], batch["targets"]
        if not special or "mask" not in special:
            raise ValueError("masked_lm needs a tokenizer with a mask token ([MASK]); use a wordpiece tokenizer")
        draw = torch.rand(tokens.shape, generator=generator, device=tokens.device)  # (B, T)
        how = torch.rand(tokens.shape, generator=generator, device=tokens.device)  # (B, T)
        rand = torch.randint(0, self.vocab_size, tokens.shape, generator=generator, device=tokens.device)
        chosen = (draw < self.mask_probability) & (targets != 0)
        labels = tokens.masked_fill(~chosen, IGNORE)
        inputs = torch.where(chosen & (how < 0.8), torch.full_like(tokens, special["mask"]), tokens)
        inputs = torch.where(chosen & (how >= 0.8) & (how < 0.9), rand, inputs)
        return {"input_ids": inputs, "attention_mask": batch["mask"], "labels": labels}

    def forward(self, logits: Tensor, labels: Tensor, *, aux_loss: Tensor | None = None) -> Tensor:
        """Args: logits ``(B, T, V)``; labels ``(B, T)``; aux_loss unused. Returns: mean cross-entropy over
        the chosen positions (0 when none was chosen)."""
        flat, target = logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1)  # (B*T, V), (B*T,)
        if not (target != IGNORE).any():
            return flat.sum() * 0.0
        return F.cross_entropy(flat, target, ignore_index=IGNORE, label_smoothing=self.label_smoothing)


class ClassificationLoss(nn.Module):
    """Sequence classification: cross-entropy of the class scores against one label per sequence
    (the seed's section 3.4: a softmax output layer over the classes).

    Args:
        label_smoothing: as for :class:`NextTokenLoss`.
    """

    extra_token = 0

    def __init__(self, *, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def prepare(self, batch: dict[str, Tensor], *, generator: torch.Generator | None = None,
                special: dict[str, int] | None = None) -> dict[str, Tensor]:
        """Args: batch: ``tokens (B, T)``, ``mask (B, T)`` and ``label (B,)``; generator, special: unused.
        Returns: ``input_ids``, ``attention_mask`` and ``labels (B,)``."""
        return {"input_ids": batch["tokens"], "attention_mask": batch["mask"], "labels": batch["label"]}

    def forward(self, logits: Tensor, labels: Tensor, *, aux_loss: Tensor | None = None) -> Tensor:
        """Args: logits ``(B, classes)`` (raw scores, not probabilities); labels ``(B,)`` class ids.
        Returns: mean cross-entropy."""
        return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE, label_smoothing=self.label_smoothing)
