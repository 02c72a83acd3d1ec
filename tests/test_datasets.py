import gzip
import struct

import numpy as np
import pytest

from kerasauto import datasets


def _write_idx(path, array, compress):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [True, False])
def test_load_idx_reads_what_was_written(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    _write_idx(path, array, compress)
    np.testing.assert_array_equal(datasets.load_idx(path), array)


def test_load_idx_rejects_a_file_that_is_not_idx(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"not an idx file at all")
    with pytest.raises(ValueError, match="bad.idx"):
        datasets.load_idx(path)


def test_fashion_mnist_from_a_directory_and_a_clear_error_without_one(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("t10k", 4)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)), True)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n), True)
    (x, y), (xt, yt) = datasets.load_fashion_mnist(str(tmp_path))
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (6,)
    assert xt.shape == (4, 28, 28, 1)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        datasets.load_fashion_mnist(str(tmp_path / "missing"))


def test_digits_images_are_uint8_and_split_stratified():
    (x, y), (xt, yt) = datasets.load_digits_images()
    assert x.dtype == np.uint8 and x.shape[1:] == (8, 8, 1) and x.max() == 255
    assert len(x) + len(xt) == 1797
    assert set(np.unique(yt)) == set(range(10))
