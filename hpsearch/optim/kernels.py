"""One-pass CPU kernels for the stacked AdaBound and Adam families (numba).

A stacked step in eager PyTorch (`hpsearch.optim.stacked`) runs one op per term of the update,
about ten passes over every member's weights, gradient and moments, each paying a dispatch. In a
population of small models on a CPU that was 40 % of the time a pack trains. These kernels do the
same arithmetic, element by element, in one pass: per member `k` the hyperparameters are
scalars, per element the formulas are the eager code's, in the weights' dtype. The results agree
with the eager step up to float rounding (the order of an operation's roundings may differ).

No fast-math: NaN and inf propagate as in torch (the clamps are written as comparisons that keep
a NaN), so a non-finite gradient spoils its member's weights here as it does there, and divergence
is judged alike. The eager step stays the reference and the path on accelerators;
`tests/test_optim_stacked.py` holds both to the registered optimizer stepping each member alone.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, error_model="numpy", cache=True)
def _lerp(start: float, end: float, weight: float, one_minus_weight: float) -> float:
    """torch.lerp's formula for a scalar weight (two forms, as in ATen, for accuracy)."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


@numba.njit(nogil=True, error_model="numpy", cache=True)
def _maximum(a: float, b: float) -> float:
    """torch.maximum of two scalars: NaN if either is NaN."""
    if a != a or b != b:
        return a + b
    return a if a > b else b


@numba.njit(nogil=True, error_model="numpy", cache=True)
def _decay(
    p: float, g: float, weight_decay: float, shrink: float, decoupled: bool
) -> tuple[float, float]:
    """One element's weight decay: decoupled, the weight times `shrink` (`1 - decay * lr`);
    coupled, `weight_decay * p` added to the gradient. Returns (weight, gradient)."""
    if weight_decay != 0:
        if decoupled:
            return p * shrink, g
        return p, g + weight_decay * p
    return p, g


@numba.njit(nogil=True, error_model="numpy", cache=True)
def adabound_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray,
    beta1: np.ndarray,
    one_minus_beta1: np.ndarray,
    beta2: np.ndarray,
    one_minus_beta2: np.ndarray,
    eps: np.ndarray,
    weight_decay: np.ndarray,
    decay: np.ndarray,
    step_size: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    amsbound: bool,
    decoupled: bool,
) -> None:
    """AdaBound / AMSBound / AdaBoundW on `[K, N]` arrays, in place; the rest are `[K]` in the
    arrays' dtype (complements such as `1 - beta1` come computed, so nothing widens to float64).

    Per element, as `adabound_update`: decay (coupled into the gradient, or `param *= decay`),
    the moments, `rate = clamp(step_size / (sqrt(v) + eps), lower, upper)`, `param -= rate * m`.
    """
    for k in range(param.shape[0]):
        b1, b2, e, wd = beta1[k], beta2[k], eps[k], weight_decay[k]
        one_minus_b1, one_minus_b2 = one_minus_beta1[k], one_minus_beta2[k]
        s, lo, up, shrink = step_size[k], lower[k], upper[k], decay[k]
        for j in range(param.shape[1]):
            p, g = _decay(param[k, j], grad[k, j], wd, shrink, decoupled)
            m = exp_avg[k, j] * b1 + one_minus_b1 * g
            v = exp_avg_sq[k, j] * b2 + one_minus_b2 * g * g
            exp_avg[k, j] = m
            exp_avg_sq[k, j] = v
            if amsbound:
                v = _maximum(max_exp_avg_sq[k, j], v)
                max_exp_avg_sq[k, j] = v
            rate = s / (np.sqrt(v) + e)
            rate = lo if rate < lo else rate  # a NaN rate stays NaN, as torch.maximum keeps it
            rate = up if rate > up else rate
            param[k, j] = p - rate * m


@numba.njit(nogil=True, error_model="numpy", cache=True)
def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray,
    lerp_weight: np.ndarray,
    lerp_complement: np.ndarray,
    beta2: np.ndarray,
    one_minus_beta2: np.ndarray,
    eps: np.ndarray,
    weight_decay: np.ndarray,
    decay: np.ndarray,
    bias_correction2_sqrt: np.ndarray,
    neg_step_size: np.ndarray,
    amsgrad: bool,
    decoupled: bool,
) -> None:
    """Adam / AMSGrad / AdamW on `[K, N]` arrays, in place; the rest are `[K]` in the arrays'
    dtype: `lerp_weight` is `1 - beta1`, `lerp_complement` is `1 - lerp_weight` in that dtype.

    Per element, as torch's single-tensor Adam: decay, `m.lerp_(g, lerp_weight)`,
    `v = v * beta2 + (1 - beta2) * g * g`, `param += neg_step_size * m / (sqrt(v) / bc2 + eps)`.
    """
    for k in range(param.shape[0]):
        w, w_complement = lerp_weight[k], lerp_complement[k]
        b2, one_minus_b2, e, wd = beta2[k], one_minus_beta2[k], eps[k], weight_decay[k]
        shrink, bc2, step = decay[k], bias_correction2_sqrt[k], neg_step_size[k]
        for j in range(param.shape[1]):
            p, g = _decay(param[k, j], grad[k, j], wd, shrink, decoupled)
            m = _lerp(exp_avg[k, j], g, w, w_complement)
            v = exp_avg_sq[k, j] * b2 + one_minus_b2 * g * g
            exp_avg[k, j] = m
            exp_avg_sq[k, j] = v
            if amsgrad:
                v = _maximum(max_exp_avg_sq[k, j], v)
                max_exp_avg_sq[k, j] = v
            param[k, j] = p + step * (m / (np.sqrt(v) / bc2 + e))
