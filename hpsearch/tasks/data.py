"""Offline data sets: generated or bundled, never downloaded.

Each loader returns numpy arrays and is cached per process, because a Ray worker with
`reuse_actors=True` trains many cells of the same task in one process.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1], split 80/20 stratified (fixed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y
    )
    return _frozen(x_train), _frozen(y_train), _frozen(x_test), _frozen(y_test)


def _frozen(array: np.ndarray) -> np.ndarray:
    # Cached arrays are shared by every trial in the process: make accidental writes fail loudly.
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array
