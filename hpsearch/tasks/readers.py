"""Readers for the user-supplied data sets of the paper's tasks, with numpy only.

Formats: MNIST idx files (optionally gzipped), CIFAR-10/100 "python version" batches (pickles,
read with a restricted unpickler that can build numpy arrays and nothing else, because a pickle
can run arbitrary code), and Penn Treebank / WikiText-2 token files. Every problem is a
`DataError` naming the file, what is wrong and where to get the data.

A data directory may hold the files directly or in the subdirectory the official archive
extracts to (e.g. `cifar-10-batches-py/`), so one root can hold every data set.
"""

from __future__ import annotations

import functools
import gzip
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.errors import DataError

MNIST_SOURCE = "http://yann.lecun.com/exdb/mnist/ (or any mirror of the four idx files)"
CIFAR10_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it)"
CIFAR100_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (extract it)"
PTB_SOURCE = "the `simple-examples/data` folder of Mikolov's simple-examples.tgz"
WIKITEXT2_SOURCE = "the `wikitext-2` folder of wikitext-2-v1.zip (Salesforce / Merity et al.)"

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
CIFAR100_FILES = ("train", "test")
TOKEN_FILES = {
    "ptb": ("ptb.train.txt", "ptb.test.txt"),
    "wikitext2": ("wiki.train.tokens", "wiki.test.tokens"),
}
_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw", "MNIST"),
    "cifar10": ("cifar-10-batches-py",),
    "cifar100": ("cifar-100-python",),
    "ptb": ("simple-examples/data", "ptb", "penn"),
    "wikitext2": ("wikitext-2", "wikitext2"),
}


def find_data_dir(
    task: str,
    data_dir: str | None,
    dataset: str,
    files: tuple[str, ...],
    source: str,
    *,
    gzip_ok: bool = False,
) -> Path:
    """The directory holding `files`: `data_dir` itself or a known subdirectory of it."""
    expected = ", ".join(files)
    if data_dir is None:
        raise DataError(
            f"Task `{task}` needs the option `data_dir`: a directory holding {expected}. "
            f"Get them from {source}."
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(
            f"Option `data_dir` of task `{task}`: {str(root)!r} is not a directory. It should "
            f"hold {expected}, from {source}."
        )
    for candidate in (root, *(root / sub for sub in _SUBDIRS[dataset])):
        if all(_exists(candidate / name, gzip_ok) for name in files):
            return candidate
    missing = [name for name in files if not _exists(root / name, gzip_ok)]
    raise DataError(
        f"Option `data_dir` of task `{task}`: {str(root)!r} lacks {', '.join(missing)} (looked "
        f"there and in {', '.join(_SUBDIRS[dataset])}). Expected {expected}, from {source}."
    )


def _exists(path: Path, gzip_ok: bool) -> bool:
    return path.is_file() or (gzip_ok and path.with_name(path.name + ".gz").is_file())


def _signature(root: Path, names: tuple[str, ...]) -> tuple[object, ...]:
    """Size and modification time of each file: loaded data is cached per process, and a file
    replaced on disk must be read again."""
    stats: list[tuple[object, ...]] = []
    for name in names:
        path = root / name
        if not path.is_file():
            path = path.with_name(name + ".gz")
        try:
            status = path.stat()
        except OSError:
            stats.append((name, None))
            continue
        stats.append((name, status.st_size, status.st_mtime_ns))
    return tuple(stats)


# --- MNIST idx -------------------------------------------------------------------------------

_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """One idx file (plain or `.gz`): magic (0, 0, type, ndim), big-endian sizes, then data."""
    if not path.is_file() and path.with_name(path.name + ".gz").is_file():
        path = path.with_name(path.name + ".gz")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"{path}: not a valid gzip file ({error}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an idx file (bad magic number {raw[:4].hex()!r}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated idx header.")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    # Python integers: sizes up to 2**32 - 1 per dimension overflow numpy's int64 product.
    size = math.prod(shape) * dtype.itemsize
    if len(raw) - header != size:
        raise DataError(
            f"{path}: idx header promises shape {shape} ({size} bytes of data) but the file "
            f"holds {len(raw) - header}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_mnist(directory: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST as (x_train uint8 (N, 28, 28), y_train int64, x_test, y_test)."""
    return _load_mnist(directory, _signature(Path(directory), MNIST_FILES))


@functools.lru_cache(maxsize=2)
def _load_mnist(
    directory: str, signature: tuple[object, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    root = Path(directory)
    arrays = []
    for images_name, labels_name in (MNIST_FILES[:2], MNIST_FILES[2:]):
        images, labels = read_idx(root / images_name), read_idx(root / labels_name)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(
                f"{root / images_name}: expected uint8 images of shape (N, rows, cols), got "
                f"{images.dtype} {images.shape}."
            )
        if labels.shape != (len(images),) or (labels.size and labels.max() > 9):
            raise DataError(
                f"{root / labels_name}: expected {len(images)} labels in 0..9 to match "
                f"{images_name}, got shape {labels.shape}."
            )
        arrays += [images, labels.astype(np.int64)]
    return arrays[0], arrays[1], arrays[2], arrays[3]


# --- CIFAR python batches --------------------------------------------------------------------

# Everything a CIFAR batch needs to rebuild its numpy arrays. The py2-era files name
# `numpy.core.multiarray`; numpy 2 moved it to `numpy._core`.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),  # how protocol 2 writes bytes on Python 3
}


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle naming something other than numpy's array builders (possibly hostile)."""


class _ArrayUnpickler(pickle.Unpickler):
    """Builds dicts, lists, numbers, strings and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        target = _SAFE_GLOBALS.get((module, name))
        if target is None:
            raise _RefusedGlobal(f"refused to load `{module}.{name}`")
        import importlib

        return getattr(importlib.import_module(target[0]), target[1])


def read_cifar_batch(path: Path, label_key: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch as (images uint8 (N, 3, 32, 32), labels int64)."""
    try:
        with path.open("rb") as stream:
            # encoding="bytes": the official files are Python 2 pickles of str keys and buffers.
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
    except _RefusedGlobal as error:
        raise DataError(f"{path}: not a safe CIFAR batch ({error}).") from None
    except EOFError:
        raise DataError(
            f"{path}: the CIFAR batch is truncated (the file ends mid-pickle); download and "
            f"extract it again from {_cifar_source(path)}."
        ) from None
    except Exception as error:  # a damaged pickle can fail in many ways
        raise DataError(
            f"{path}: truncated or corrupt CIFAR batch ({error}); download and extract it again "
            f"from {_cifar_source(path)}."
        ) from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(batch).__name__}.")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise DataError(
            f"{path}: expected the keys `data` and `{label_key}`, found {sorted(batch)}."
        )
    images, labels = batch["data"], np.asarray(batch[label_key])
    if (
        not isinstance(images, np.ndarray)
        or images.dtype != np.uint8
        or images.ndim != 2
        or images.shape[1] != 3 * 32 * 32
    ):
        shape = getattr(images, "shape", None)
        raise DataError(f"{path}: `data` must be a uint8 array of shape (N, 3072), got {shape}.")
    if (
        labels.shape != (len(images),)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels.size and (labels.min() < 0 or labels.max() >= classes))
    ):
        raise DataError(
            f"{path}: `{label_key}` must hold {len(images)} integers in 0..{classes - 1}."
        )
    return images.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _cifar_source(path: Path) -> str:
    return CIFAR100_SOURCE if path.name in CIFAR100_FILES else CIFAR10_SOURCE


def load_cifar(
    directory: str, classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 (`classes=10`) or CIFAR-100 (fine labels) as uint8 NCHW images and labels."""
    files = CIFAR10_FILES if classes == 10 else CIFAR100_FILES
    return _load_cifar(directory, classes, _signature(Path(directory), files))


@functools.lru_cache(maxsize=2)
def _load_cifar(
    directory: str, classes: int, signature: tuple[object, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    root = Path(directory)
    if classes == 10:
        train_files, test_file, key = CIFAR10_FILES[:-1], CIFAR10_FILES[-1], "labels"
    else:
        train_files, test_file, key = ("train",), "test", "fine_labels"
    parts = [read_cifar_batch(root / name, key, classes) for name in train_files]
    x_test, y_test = read_cifar_batch(root / test_file, key, classes)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return x_train, y_train, x_test, y_test


# --- PTB / WikiText-2 ------------------------------------------------------------------------


def load_token_corpus(directory: str, corpus: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Word ids of the train and test files, an `<eos>` after every line; vocabulary from train.

    Test words unseen in training map to `<unk>` (both corpora already use it for rare words).
    """
    return _load_token_corpus(directory, corpus, _signature(Path(directory), TOKEN_FILES[corpus]))


@functools.lru_cache(maxsize=2)
def _load_token_corpus(
    directory: str, corpus: str, signature: tuple[object, ...]
) -> tuple[np.ndarray, np.ndarray, int]:
    root = Path(directory)
    train_name, test_name = TOKEN_FILES[corpus]
    train_words = _read_words(root / train_name)
    vocabulary: dict[str, int] = {}
    for word in train_words:
        vocabulary.setdefault(word, len(vocabulary))
    if not train_words:
        raise DataError(f"{root / train_name}: the file holds no tokens.")
    test_words = _read_words(root / test_name)
    if not test_words:
        raise DataError(f"{root / test_name}: the file holds no tokens.")
    unknown = vocabulary.setdefault("<unk>", len(vocabulary))
    train_ids = np.array([vocabulary[w] for w in train_words], dtype=np.int64)
    test_ids = np.array([vocabulary.get(w, unknown) for w in test_words], dtype=np.int64)
    return train_ids, test_ids, len(vocabulary)


def _read_words(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error}).") from None
    words: list[str] = []
    for line in text.splitlines():
        tokens = line.split()
        if tokens:
            words += [*tokens, "<eos>"]
    return words
