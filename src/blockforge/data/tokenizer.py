"""Tokenizers through the HF ``tokenizers`` library: trained on the corpus, or loaded from ``tokenizer.json``.

The seed guide's section 13, step 1 (words to tokens, tokens to integers). A trained tokenizer has exactly
the model's ``vocab_size`` tokens, special tokens included, or the run is refused with the size the corpus
supports; a loaded one must have the model's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blockforge.data.chat import EOS, SPECIAL_TOKENS
from blockforge.data.corpus import DataError

WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

ROLES = {"eos": (EOS, "[SEP]"), "pad": ("<|pad|>", "[PAD]", EOS), "mask": ("[MASK]",), "cls": ("[CLS]",)}
"""Which token strings play which role, in order of preference."""


def train_tokenizer(spec: Any, texts: Iterable[str], *, vocab_size: int, count: int | None = None) -> Any:
    """Train a tokenizer of ``vocab_size`` tokens on ``texts``.

    Args:
        spec: the validated :class:`~blockforge.spec.training.TokenizerSpec` (``bpe`` or ``wordpiece``).
        texts: the training texts.
        vocab_size: the model's vocabulary size (special tokens included).
        count: how many texts, for the trainer's bookkeeping.

    Returns:
        A ``tokenizers.Tokenizer``. ``bpe`` is GPT-2's byte-level BPE (every byte is a token, so nothing is
        unknown) with :data:`~blockforge.data.chat.SPECIAL_TOKENS`; ``wordpiece`` is BERT's, with
        ``[PAD] [UNK] [CLS] [SEP] [MASK]``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if spec.type == "bpe":
        tok = Tokenizer(models.BPE())
        if spec.lowercase:
            tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=spec.min_frequency,
                                      special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=spec.lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=spec.min_frequency,
                                            special_tokens=list(WORDPIECE_SPECIALS), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer, length=count)
    return tok


def load_tokenizer(path: str) -> Any:
    """Load a ``tokenizer.json``.

    Args:
        path: the file.

    Returns:
        The ``tokenizers.Tokenizer``.

    Raises:
        DataError: missing or not a tokenizer file.
    """
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses from Rust
        raise DataError(f"cannot load tokenizer {path}: {exc}") from None


def special_ids(tok: Any) -> dict[str, int]:
    """The ids of the tokens that play a role: ``eos``, ``pad``, ``mask``, ``cls``, where the tokenizer has them.

    Args:
        tok: a ``tokenizers.Tokenizer``.

    Returns:
        ``{role: id}``.
    """
    out = {}
    for role, names in ROLES.items():
        for name in names:
            i = tok.token_to_id(name)
            if i is not None:
                out[role] = i
                break
    return out
