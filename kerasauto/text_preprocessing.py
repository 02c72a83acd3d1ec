"""Tokenisation chosen from the data, inside the model: a built-in ``TextVectorization`` whose
vocabulary (and IDF weights) live in its config, so an exported model takes raw strings and
loads with plain Keras.

The choice follows Google's text-classification guide: with few samples per word of a typical
sample (samples / median words per sample < 1500) an n-gram TF-IDF vector and an MLP win; with
more, token ids through an embedding and separable 1-D convolutions. Scripts written without
spaces (Japanese, Chinese, Thai) are split into characters, with character n-grams, so that no
segmenter or dictionary is needed.
"""
from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np

#: samples / median words per sample below which the n-gram model is chosen (Google's guide).
NGRAM_RATIO_THRESHOLD = 1500
#: Most vocabulary entries kept (the most frequent ones), as in Google's guide.
MAX_TOKENS = 20_000
#: Word n-grams (1..WORD_NGRAMS) and character n-grams (1..CHARACTER_NGRAMS) of the n-gram model.
WORD_NGRAMS = 2
CHARACTER_NGRAMS = 3
#: Longest token sequence the sequence model reads (longer texts are cut).
MAX_SEQUENCE_LENGTH = 500
#: A text is unsegmented when at least this share of its letters is in a script without spaces.
UNSEGMENTED_SHARE = 0.3
ADAPT_BATCH = 512

#: Unicode name prefixes of scripts written without spaces between words.
_UNSEGMENTED_SCRIPTS = ("CJK UNIFIED IDEOGRAPH", "HIRAGANA", "KATAKANA", "HALFWIDTH KATAKANA",
                        "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


def _unsegmented(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSEGMENTED_SCRIPTS)


def unsegmented_share(texts: Sequence[str], sample: int = 2000) -> float:
    """The share of letters (of a sample of the texts) in scripts written without spaces."""
    letters = unsegmented = 0
    for text in list(texts)[:sample]:
        for char in text[:2000]:
            if char.isalpha():
                letters += 1
                unsegmented += _unsegmented(char)
    return unsegmented / letters if letters else 0.0


def choose_split(texts: Sequence[str]) -> str:
    """``"character"`` for scripts without spaces between words, else ``"whitespace"``."""
    return "character" if unsegmented_share(texts) >= UNSEGMENTED_SHARE else "whitespace"


def median_tokens(texts: Sequence[str], split: str) -> float:
    """The median number of words (``whitespace``) or characters (``character``) per text."""
    counts = [len(t) if split == "character" else len(t.split()) for t in texts]
    return float(np.median(counts)) if counts else 0.0


def choose_model(texts: Sequence[str], split: str) -> str:
    """``"ngram"`` or ``"sequence"`` by Google's samples / median words per sample rule.

    Characters count as words for unsegmented scripts, divided by 2 (a typical Japanese or
    Chinese word is one or two characters long).
    """
    words = median_tokens(texts, split) / (2 if split == "character" else 1)
    return "ngram" if len(texts) / max(words, 1.0) < NGRAM_RATIO_THRESHOLD else "sequence"


def vectorizer_spec(texts: Sequence[str], model: str | None = None, split: str | None = None,
                    max_tokens: int = MAX_TOKENS) -> dict:
    """The ``TextVectorization`` layer spec (``{"kind": ..., **config}``) fitted on ``texts``.

    ``model``: ``"ngram"`` (TF-IDF of n-grams) or ``"sequence"`` (token ids), by default chosen
    by :func:`choose_model`; ``split`` likewise by :func:`choose_split`. The vocabulary is
    Keras' own (``adapt``: the most frequent tokens); the IDF weights are Keras' formula,
    ``log(1 + N / (1 + document frequency))``, computed here so they can go in the config.
    """
    import keras

    texts = [str(t) for t in texts]
    split = split or choose_split(texts)
    model = model or choose_model(texts, split)
    if model not in ("ngram", "sequence"):
        raise ValueError(f"model must be 'ngram' or 'sequence', got {model!r}.")
    config: dict = {"standardize": "lower_and_strip_punctuation" if split == "whitespace"
                    else "lower", "split": split}
    if model == "ngram":
        config["ngrams"] = WORD_NGRAMS if split == "whitespace" else CHARACTER_NGRAMS
        config["output_mode"] = "tf_idf"
    else:
        config["output_mode"] = "int"
        lengths = [len(t) if split == "character" else len(t.split()) for t in texts]
        config["output_sequence_length"] = int(min(MAX_SEQUENCE_LENGTH,
                                                   max(8, np.percentile(lengths, 90))))
    counting_config = {k: v for k, v in config.items() if k != "output_sequence_length"}
    counting = keras.layers.TextVectorization(
        max_tokens=max_tokens, **{**counting_config, "output_mode": "multi_hot"})
    counting.adapt(np.array(texts, dtype=object), batch_size=ADAPT_BATCH)
    vocabulary = [str(token) for token in counting.get_vocabulary(include_special_tokens=False)]
    if not vocabulary:
        raise ValueError("The texts have no tokens to learn from (all empty or punctuation?).")
    if model == "ngram":
        counting = keras.layers.TextVectorization(
            vocabulary=vocabulary, **{**counting_config, "output_mode": "multi_hot"})
        frequency = np.zeros(len(vocabulary) + 1)
        for start in range(0, len(texts), ADAPT_BATCH):
            batch = np.array(texts[start:start + ADAPT_BATCH], dtype=object)
            frequency += np.asarray(counting(batch)).sum(axis=0)
        idf = np.log1p(len(texts) / (1.0 + frequency[1:]))
        config["idf_weights"] = [round(float(v), 6) for v in idf]
    config["vocabulary"] = vocabulary
    return {"kind": "TextVectorization", **config}


def describe(spec: dict) -> str:
    """A short human-readable description of a vectorizer spec, e.g. for verbose output."""
    unit = "characters" if spec["split"] == "character" else "words"
    if spec["output_mode"] == "int":
        return (f"sequence model on {unit} ({len(spec['vocabulary'])} tokens, "
                f"{spec['output_sequence_length']} per text)")
    return f"{unit} 1..{spec['ngrams']}-grams, TF-IDF ({len(spec['vocabulary'])} n-grams)"
