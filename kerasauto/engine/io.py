"""Crash-safe file writes: a write goes to a temporary file that replaces the target only once complete."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Callable

#: Name prefix of the temporary files; a resumed project deletes leftovers with it.
TEMPORARY_PREFIX = ".tmp-"


def _is_local(path: str) -> bool:
    return "://" not in str(path)


def atomic_write(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)`` then move the temporary file onto ``path`` in one step.

    A crash, a kill or a full disk leaves either the old file or the new one, never half of one.
    ``suffix`` keeps file-name endings that writers insist on (e.g. ``.weights.h5``).
    """
    path = str(path)
    if not _is_local(path):  # e.g. gs:// through tf.io.gfile: write then rename.
        import tensorflow as tf

        tmp = f"{path}.tmp{suffix}"
        write(tmp)
        tf.io.gfile.rename(tmp, path, overwrite=True)
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, data: Any) -> None:
    """Atomically write ``data`` as JSON (readable, sorted keys)."""
    text = json.dumps(data, indent=1, sort_keys=True, default=_to_builtin)

    def write(tmp: str) -> None:
        if _is_local(tmp):
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            import tensorflow as tf

            with tf.io.gfile.GFile(tmp, "w") as handle:
                handle.write(text)

    atomic_write(path, write, suffix=".json")


def read_json(path: str) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    if _is_local(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    import tensorflow as tf

    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)


def _to_builtin(value: Any) -> Any:
    """JSON fallback for NumPy scalars and sets."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Cannot write {type(value).__name__} as JSON.")
