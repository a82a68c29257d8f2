"""Real-data tasks on tiny synthetic files written in the real formats (idx, CIFAR pickles, PTB)."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from hpsearch.errors import DataError, UserInputError
from hpsearch.tasks import train
from hpsearch.tasks.data import random_crop_flip
from hpsearch.tasks.readers import read_cifar_batch, read_idx


def _write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> None:
    # idx: two zero bytes, the type code (0x08 = uint8), the number of dimensions, then each
    # size as a big-endian uint32, then the data.
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def _learnable_images(
    count: int, classes: int, shape: tuple[int, ...], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus a bright band whose position is the label, so a few steps learn something."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % classes
    images = rng.integers(0, 60, size=(count, *shape), dtype=np.uint8)
    rows = shape[-2]
    for index, label in enumerate(labels):
        row = int(label * rows / classes)
        images[index, ..., row : row + max(rows // classes, 1), :] = 250
    return images, labels.astype(np.int64)


def _write_mnist(root: Path, *, compress: bool = False) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", 100, 0), ("t10k", 40, 1)):
        images, labels = _learnable_images(count, 10, (28, 28), seed)
        _write_idx(root / f"{prefix}-images-idx3-ubyte", images, compress=compress)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, compress=compress)


def _write_cifar_batch(path: Path, count: int, classes: int, label_key: bytes, seed: int) -> None:
    images, labels = _learnable_images(count, classes, (3, 32, 32), seed)
    # The official batches are Python 2 pickles: byte-string keys, flat uint8 rows, label lists.
    batch = {
        b"batch_label": b"synthetic",
        label_key: labels.tolist(),
        b"data": images.reshape(count, -1),
        b"filenames": [b"x.png"] * count,
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def _write_cifar10(root: Path, per_batch: int = 10) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(1, 6):
        _write_cifar_batch(root / f"data_batch_{index}", per_batch, 10, b"labels", index)
    _write_cifar_batch(root / "test_batch", 20, 10, b"labels", 9)


_CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog sat on a mat",
]


def _write_tokens(root: Path, train_name: str, test_name: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / train_name).write_text("\n".join(f" {line} " for line in _CORPUS * 40) + "\n")
    (root / test_name).write_text("\n".join(_CORPUS[::-1] * 4 + ["the zebra sat"]) + "\n")


def _trains(task: str, options: dict[str, object], epochs: int = 2, lr: float = 3e-3) -> None:
    result = train(task, "adam", {"lr": lr}, 0, options=options, epochs=epochs)
    assert result.outcome in ("completed", "diverged"), result.error
    assert result.divergence_reason is None or "chance" in result.divergence_reason
    assert len(result.epochs) == epochs
    assert result.final["train_loss"] < result.initial["train_loss"]


# --- MNIST idx -------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files_are_read_and_train(tmp_path: Path, compress: bool) -> None:
    _write_mnist(tmp_path / "mnist", compress=compress)
    images = read_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte")
    assert images.shape == (40, 28, 28) and images.dtype == np.uint8
    # The data dir may be a root holding the `mnist/` folder.
    _trains("mnist-mlp", {"data_dir": str(tmp_path), "hidden": 16, "batch_size": 20})


def test_malformed_idx_files_are_clear_errors(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 100) + b"\x01" * 10)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.*100.*10"):
        train("mnist-mlp", "adam", {}, 0, epochs=1, options={"data_dir": str(tmp_path)})
    labels.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="bad magic"):
        train("mnist-mlp", "adam", {}, 0, epochs=1, options={"data_dir": str(tmp_path)})


def test_missing_data_dir_errors_name_the_files_and_the_source(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        train("mnist-mlp", "adam", {}, 0)
    message = str(caught.value)
    assert "data_dir" in message and "train-images-idx3-ubyte" in message
    assert "yann.lecun.com" in message
    with pytest.raises(DataError, match="is not a directory"):
        train("cifar10-resnet34", "adam", {}, 0, options={"data_dir": str(tmp_path / "no")})
    (tmp_path / "data_batch_1").write_bytes(b"")
    with pytest.raises(DataError) as caught:
        train("cifar10-resnet34", "adam", {}, 0, epochs=1, options=_tiny_cifar(tmp_path))
    message = str(caught.value)
    assert "data_batch_2" in message and "test_batch" in message and "cifar-10-python" in message
    assert isinstance(caught.value, UserInputError)  # exit code 2, nothing trained


def _tiny_cifar(root: Path) -> dict[str, object]:
    # Calls that expect an error still get tiny settings, so a regression fails fast.
    return {"data_dir": str(root), "width": 2, "batch_size": 50}


# --- CIFAR -----------------------------------------------------------------------------------


def test_cifar10_resnet34_trains_on_python_batches(tmp_path: Path) -> None:
    _write_cifar10(tmp_path / "cifar-10-batches-py")
    images, labels = read_cifar_batch(tmp_path / "cifar-10-batches-py" / "test_batch", "labels", 10)
    assert images.shape == (20, 3, 32, 32) and labels.tolist()[:3] == [0, 1, 2]
    _trains("cifar10-resnet34", {"data_dir": str(tmp_path), "width": 4, "batch_size": 25}, lr=1e-2)


@pytest.mark.slow
def test_cifar10_densenet121_trains(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    _trains(
        "cifar10-densenet121",
        {"data_dir": str(tmp_path), "growth": 2, "batch_size": 25},
        epochs=2,
        lr=1e-2,
    )


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    _write_cifar_batch(root / "train", 200, 100, b"fine_labels", 0)
    _write_cifar_batch(root / "test", 100, 100, b"fine_labels", 1)
    result = train(
        "cifar100-resnet34",
        "adam",
        {"lr": 1e-2},
        0,
        epochs=1,
        options={"data_dir": str(tmp_path), "width": 2, "batch_size": 50, "augment": False},
    )
    assert result.outcome in ("completed", "diverged"), result.error
    assert 0.0 <= result.final["test_accuracy"] <= 1.0
    _write_cifar_batch(root / "test", 10, 100, b"coarse_labels", 1)
    with pytest.raises(DataError, match="fine_labels"):
        train("cifar100-resnet34", "adam", {}, 0, epochs=1, options=_tiny_cifar(tmp_path))


def _python2_batch(images: np.ndarray, labels: list[int]) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) wrote for the official CIFAR batches: str as
    SHORT_BINSTRING/BINSTRING and numpy under its old module name `numpy.core.multiarray`."""

    def string(value: bytes) -> bytes:
        if len(value) < 256:
            return b"U" + bytes([len(value)]) + value
        return b"T" + struct.pack("<I", len(value)) + value

    rows, columns = images.shape
    out = b"\x80\x02}(" + string(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
    out += string(b"b") + b"\x87R(K\x01M" + struct.pack("<H", rows)
    out += b"M" + struct.pack("<H", columns) + b"\x86cnumpy\ndtype\n" + string(b"u1")
    out += b"K\x00K\x01\x87R(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    out += b"\x89" + string(images.tobytes()) + b"tb" + string(b"labels") + b"]("
    out += b"".join(b"K" + bytes([label]) for label in labels) + b"eu."
    return out


def test_python2_pickles_like_the_official_files_are_read(tmp_path: Path) -> None:
    images = (np.arange(2 * 3072) % 251).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "data_batch_1"
    path.write_bytes(_python2_batch(images, [3, 7]))
    x, y = read_cifar_batch(path, "labels", 10)
    assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 7]
    assert np.array_equal(x.reshape(2, -1), images)


class _Exploit:
    """A pickle payload that would run a shell command when loaded by plain `pickle`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_cifar_pickle_is_refused(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Exploit(marker)}
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3.*refused.*system"):
        train("cifar10-resnet34", "adam", {}, 0, epochs=1, options=_tiny_cifar(tmp_path))
    assert not marker.exists()


def test_malformed_cifar_batches_are_clear_errors(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    path = tmp_path / "data_batch_2"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"data_batch_2.*\(N, 3072\)"):
        read_cifar_batch(path, "labels", 10)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(DataError, match=r"0\.\.9"):
        read_cifar_batch(path, "labels", 10)
    path.write_bytes(b"\x80\x02}q\x00(")  # truncated
    with pytest.raises(DataError, match=r"data_batch_2.*truncated"):
        read_cifar_batch(path, "labels", 10)


def test_a_truncated_cifar_batch_says_truncated_not_unsafe(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    path = tmp_path / "data_batch_2"
    whole = path.read_bytes()
    for cut in (len(whole) // 2, len(whole) - 1, 3):
        path.write_bytes(whole[:cut])
        with pytest.raises(DataError) as caught:
            read_cifar_batch(path, "labels", 10)
        message = str(caught.value)
        assert "truncated" in message and "not a safe" not in message, message
        assert "cifar-10-python" in message


def test_an_idx_header_past_int64_is_a_size_error(tmp_path: Path) -> None:
    path = tmp_path / "huge-idx3-ubyte"
    big = 2**32 - 1
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">3I", big, big, 1) + b"\x00" * 8)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    assert f"({big * big} bytes of data)" in str(caught.value)
    # 2**31 * 2**31 * 4 wraps to 0 in int64: an empty body must not pass as that shape.
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**31, 2**31, 4))
    with pytest.raises(DataError, match="bytes of data"):
        read_idx(path)


def test_crop_and_flip_keep_shape_and_follow_the_seed() -> None:
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    first = random_crop_flip(images, torch.Generator().manual_seed(0))
    again = random_crop_flip(images, torch.Generator().manual_seed(0))
    assert first.shape == images.shape and torch.equal(first, again)
    # Each output is a window of the zero-padded input, possibly mirrored.
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for index in range(2):
        windows = [
            padded[index, :, top : top + 32, left : left + 32]
            for top in range(9)
            for left in range(9)
        ]
        candidates = windows + [w.flip(-1) for w in windows]
        assert any(torch.equal(first[index], w) for w in candidates)
    many = random_crop_flip(images.repeat(20, 1, 1, 1), torch.Generator().manual_seed(1))
    assert not all(torch.equal(many[0], m) for m in many[1:])


# --- PTB / WikiText-2 ------------------------------------------------------------------------

_TINY_LSTM = {"embed": 8, "hidden": 16, "bptt": 8, "batch_size": 4, "dropout": 0.0}


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_ptb_lstm_trains_with_one_to_three_layers(tmp_path: Path, layers: int) -> None:
    _write_tokens(tmp_path / "simple-examples" / "data", "ptb.train.txt", "ptb.test.txt")
    result = train(
        "ptb-lstm",
        "adam",
        {"lr": 1e-2},
        0,
        epochs=2,
        options={**_TINY_LSTM, "layers": layers, "data_dir": str(tmp_path)},
    )
    assert result.outcome == "completed", result.error or result.divergence_reason
    assert set(result.final) == {"train_loss", "test_loss", "test_perplexity", "epoch_seconds"}
    assert result.final["train_loss"] < result.initial["train_loss"]
    assert result.final["test_perplexity"] < result.initial["test_perplexity"]


def test_wikitext2_token_files_and_unknown_words(tmp_path: Path) -> None:
    from hpsearch.tasks.readers import load_token_corpus

    _write_tokens(tmp_path, "wiki.train.tokens", "wiki.test.tokens")
    _, test_ids, vocab = load_token_corpus(str(tmp_path), "wikitext2")
    # 9 distinct words + <eos> in training, plus <unk> for the unseen "zebra".
    assert vocab == 11
    assert int(test_ids.max()) == vocab - 1
    result = train(
        "ptb-lstm",
        "adam",
        {"lr": 1e-2},
        0,
        epochs=1,
        options={**_TINY_LSTM, "layers": 1, "corpus": "wikitext2", "data_dir": str(tmp_path)},
    )
    assert result.outcome == "completed", result.error
    with pytest.raises(DataError, match=r"ptb\.train\.txt"):
        train(
            "ptb-lstm", "adam", {}, 0, epochs=1, options={**_TINY_LSTM, "data_dir": str(tmp_path)}
        )
