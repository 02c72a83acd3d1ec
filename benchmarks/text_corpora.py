"""Offline text corpora from Debian packages, for the text examples and benchmarks.

- ``load_manpages_ja()``: Japanese man pages (``manpages-ja``, ``manpages-ja-dev``); the label
  is the manual section 1-8. ``.TH`` lines (which name the section) and roff comments (which
  carry translator credits) are dropped, as are roff requests' names and font escapes.
- ``load_fortunes()``: English fortunes (``fortunes``, ``fortunes-min``); the label is the
  topical file; texts found in two files are dropped.
"""
from __future__ import annotations

import collections
import glob
import gzip
import os
import re

MAN_ROOT = "/usr/share/man/ja"
FORTUNE_ROOT = "/usr/share/games/fortunes"
FORTUNE_TOPICS = ("art", "computers", "drugs", "education", "food", "law", "linux", "literature",
                  "love", "medicine", "politics", "science", "songs-poems", "sports", "startrek",
                  "work", "kids", "pets")
MANPAGES_HINT = "apt-get install manpages-ja manpages-ja-dev"
FORTUNES_HINT = "apt-get install fortunes fortunes-min"

_COMMENT = re.compile(r'(^[.\']\s*\\"|\\").*$')
_ESCAPE = re.compile(r"\\f(\[[^\]]*\]|\(..|.)|\\s[-+]?\d|\\[-&|^e ]|\\\(..")
_REQUEST = re.compile(r"^[.']\s*[A-Za-z]{1,3}\b\s?")


def roff_to_text(source: str) -> str:
    """The prose of a roff man page: no ``.TH`` line, no comments, no request names."""
    lines = []
    for line in source.splitlines():
        if re.match(r"^[.']\s*TH\b", line):
            continue
        line = _COMMENT.sub("", line)
        line = _REQUEST.sub("", line)
        line = _ESCAPE.sub("", line).replace('"', "").strip()
        if line and not line.startswith((".", "'")):
            lines.append(line)
    return "\n".join(lines)


def load_manpages_ja(root: str = MAN_ROOT) -> tuple[list[str], list[int]]:
    """(texts, sections) of the Japanese man pages under ``root`` (sections 1-8)."""
    texts, labels = [], []
    for section in range(1, 9):
        for path in sorted(glob.glob(os.path.join(root, f"man{section}", "*"))):
            if os.path.islink(path):  # aliases of another page
                continue
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
                source = handle.read()
            if source.lstrip().startswith(".so "):  # a pointer to another page
                continue
            text = roff_to_text(source)
            if text:
                texts.append(text)
                labels.append(section)
    return texts, labels


def _fortunes(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        parts = handle.read().split("\n%\n")
    return [part.strip() for part in parts if part.strip()]


def load_fortunes(root: str = FORTUNE_ROOT, topics=FORTUNE_TOPICS) -> tuple[list[str], list[str]]:
    """(texts, topics) of the fortune files under ``root``; texts in several files dropped."""
    found = {topic: _fortunes(os.path.join(root, topic)) for topic in topics
             if os.path.exists(os.path.join(root, topic))}
    homes = collections.defaultdict(set)
    for topic, texts in found.items():
        for text in texts:
            homes[text].add(topic)
    texts, labels = [], []
    for topic, items in found.items():
        for text in dict.fromkeys(items):
            if len(homes[text]) == 1:
                texts.append(text)
                labels.append(topic)
    return texts, labels
