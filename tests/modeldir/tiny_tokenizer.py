"""A byte-level tokenizer built offline with the ``tokenizers`` library: 256 byte tokens, then specials."""

from __future__ import annotations

SPECIALS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
VOCAB = 256 + len(SPECIALS)


def byte_tokenizer():
    """Every byte is one token (ids 0..255); ``SPECIALS`` follow (256..). Round-trips any UTF-8 text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    mapping = dict(enumerate(_bytes_to_unicode()))  # ByteLevel maps byte b to a printable char
    assert set(mapping.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={mapping[b]: b for b in range(256)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    return tok


def _bytes_to_unicode() -> list[str]:
    """GPT-2's byte -> printable character table (the one ``ByteLevel`` uses), in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]
