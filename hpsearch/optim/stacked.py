"""Stacked optimizers: K copies of one optimizer stepping K stacked models, one per member.

Population training (`hpsearch.tasks.population`) stacks K members' weights along a leading
dimension; each optimizer here steps such a stack with per-member hyperparameters and computes,
member by member, the update its registered counterpart computes for that member alone. Which
optimizers stack is data: the registry entry's `stacked` factory (`hpsearch.optim.catalog`).

Nothing here reduces across the member dimension, so members never mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hpsearch.optim import kernels as one_pass
from hpsearch.optim.adabound import adabound_update, bound_schedule

Arg = float | Tensor  # a hyperparameter all members share (float), or one per member (`[K]`)
# A stack's weights, gradient, moments and running maximum as `[K, N]` arrays (the kernels').
Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class StackedOptimizer:
    """One optimizer over K stacked members; the contract every stacked optimizer keeps.

    `params` are the stacked weights (`[K, ...]` each, gradients in `.grad`); `hyper` maps each
    hyperparameter of the registry entry to a float64 vector `[K]`, one value per member.
    `step()` updates every member as the registered optimizer would update it alone;
    `scale_lr(f)` is an lr schedule's step (MultiStepLR's multiply); `keep(index, params)` drops
    the other members (diverged ones) with their state.

    A value every member shares is passed to the update as a Python float, which takes torch's
    own scalar code path (same ops, same rounding, fewer passes); a value that differs becomes a
    `[K, 1, ...]` tensor in the parameter's dtype. Schedule arithmetic (bias corrections, step
    sizes) is done in float64 and rounded once, as torch does with a Python float.

    On a CPU the Adam and AdaBound families step with one-pass kernels instead
    (`hpsearch.optim.kernels`: the same formulas, element by element, up to rounding); the eager
    ops above are the path on accelerators, and `kernels=False` asks for them anywhere. SGD's
    update is a few passes already and has no kernel.
    """

    def __init__(
        self, params: list[Tensor], hyper: dict[str, Tensor], *, kernels: bool | None = None
    ) -> None:
        self.params = params
        self.hyper = hyper
        self.step_count = 0
        self.state: list[dict[str, Tensor]] = [{} for _ in params]
        # Values derived from `hyper` alone, reused every step until `hyper` changes.
        self.derived: dict[Any, Any] = {}
        self._scratch: Tensor | None = None
        self._views: dict[int, tuple[Tensor, Tensor, Rows]] = {}
        self.kernels = all(p.device.type == "cpu" for p in params) if kernels is None else kernels

    def uses_kernels(self) -> bool:
        """Step with the one-pass kernels: asked for, and every stack a contiguous CPU tensor
        (the kernels write through a NumPy view of its memory). Known until `keep` swaps the
        stacks."""
        if "kernels" not in self.derived:
            self.derived["kernels"] = self.kernels and all(
                p.device.type == "cpu" and p.is_contiguous() for p in self.params
            )
        return bool(self.derived["kernels"])

    def moments(self, state: dict[str, Tensor], p: Tensor, with_max: bool) -> None:
        """Zero first and second moments for `p` (and their running maximum) on first use."""
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            if with_max:
                state["max_exp_avg_sq"] = torch.zeros_like(p)

    def rows(self, i: int) -> Rows:
        """Weights, gradient, moments and running maximum (the second moment where there is
        none, which the kernel then never reads) of stack `i`, as `[K, N]` arrays. Kept while
        the weights and gradient are the same tensors (the written-out MLP backward reuses its
        gradient buffers): making the views costs more than a small stack's kernel."""
        p, state = self.params[i], self.state[i]
        grad = p.grad
        assert grad is not None
        cached = self._views.get(i)
        if cached is not None and cached[0] is p and cached[1] is grad:
            return cached[2]
        exp_avg_sq = state["exp_avg_sq"]
        rows = (
            _rows(p),
            _rows(grad.contiguous()),
            _rows(state["exp_avg"]),
            _rows(exp_avg_sq),
            _rows(state.get("max_exp_avg_sq", exp_avg_sq)),
        )
        if grad.is_contiguous():  # else the row view is a copy, new every step
            self._views[i] = (p, grad, rows)
        return rows

    def kernel_rows(self, with_max: bool) -> Iterator[Rows]:
        """`rows(i)` of every stack that has a gradient, its moments made on first use: what a
        kernel step walks."""
        for i, (p, state) in enumerate(zip(self.params, self.state, strict=True)):
            if p.grad is not None:
                self.moments(state, p, with_max)
                yield self.rows(i)

    def vectors(self, **values: Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Per-member `[K]` values (float64, rounded once) as arrays in the weights' dtype."""
        dtype = self.params[0].detach().numpy().dtype
        return {name: np.asarray(value).astype(dtype) for name, value in values.items()}

    def float64(self) -> dict[str, np.ndarray]:
        """`hyper` as float64 arrays, for the kernels' per-step schedule: the arithmetic of
        torch's on `[K]` tensors up to rounding (`pow` may round otherwise), at a fraction of
        its dispatch cost."""
        if "float64" not in self.derived:
            self.derived["float64"] = {k: v.cpu().numpy() for k, v in self.hyper.items()}
        return self.derived["float64"]

    def scratch_for(self, like: Tensor) -> Tensor:
        """A temporary shaped like `like`, from one buffer every tensor's step reuses: a fresh
        temporary per tensor and step costs page faults (the allocator hands large blocks back
        to the OS) and a cold cache; the values written are the same."""
        buffer = self._scratch
        if buffer is None or buffer.numel() < like.numel() or buffer.dtype != like.dtype:
            buffer = self._scratch = torch.empty(
                max(p.numel() for p in self.params), dtype=like.dtype, device=like.device
            )
        return buffer[: like.numel()].view_as(like)

    @staticmethod
    def shared(value: Tensor) -> Arg:
        """A float if every member has the same value, else the `[K]` vector itself."""
        first = value[0]
        return float(first) if bool((value == first).all()) else value

    @staticmethod
    def col(value: Arg, like: Tensor) -> Arg:
        """A float unchanged; a `[K]` vector as `[K, 1, ...]` in `like`'s dtype and device."""
        if not isinstance(value, Tensor):
            return value
        shape = (value.shape[0],) + (1,) * (like.dim() - 1)
        return value.to(dtype=like.dtype, device=like.device).view(shape)

    def args(self, **values: Tensor) -> dict[str, Arg]:
        return {name: self.shared(value) for name, value in values.items()}

    def scale_lr(self, factor: float) -> None:
        self.hyper["lr"] = self.hyper["lr"] * factor
        self.derived.clear()

    def keep(self, index: Tensor, params: list[Tensor]) -> None:
        """Keep only the members at `index` (positions in the current stack)."""
        self.params = params
        self.hyper = {k: v[index.to(v.device)] for k, v in self.hyper.items()}
        self.derived.clear()
        self._views.clear()
        self.state = [{k: v[index] for k, v in s.items()} for s in self.state]

    def step(self) -> None:
        """One update of every member from its `.grad`."""
        raise NotImplementedError


def _add_scaled(target: Tensor, other: Tensor, scale: Arg, scratch: Tensor | None = None) -> Tensor:
    """`target += scale * other` (torch's `add_(other, alpha=scale)` for a float); a per-member
    `scale` multiplies into `scratch` (shaped like `other`) when given."""
    if isinstance(scale, Tensor):
        return target.add_(
            torch.mul(scale, other, out=scratch) if scratch is not None else scale * other
        )
    return target.add_(other, alpha=scale)


def _is_zero(value: Arg) -> bool:
    return not isinstance(value, Tensor) and value == 0


def _rows(t: Tensor) -> np.ndarray:
    """A `[K, ...]` contiguous CPU tensor as a `[K, N]` array sharing its memory."""
    return t.detach().view(t.shape[0], -1).numpy()


class StackedAdam(StackedOptimizer):
    """torch.optim.Adam's single-tensor update (its CPU default), op for op, with per-member
    hyperparameters; `amsgrad` and AdamW's decoupled decay as in torch."""

    def __init__(
        self,
        params: list[Tensor],
        hyper: dict[str, Tensor],
        *,
        amsgrad: bool,
        decoupled: bool,
        kernels: bool | None = None,
    ) -> None:
        super().__init__(params, hyper, kernels=kernels)
        self.amsgrad = amsgrad
        self.decoupled = decoupled

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        if self.uses_kernels():
            self._kernel_step()
            return
        h, step = self.hyper, self.step_count
        a = self.args(
            one_minus_beta1=1 - h["beta1"],
            beta2=h["beta2"],
            one_minus_beta2=1 - h["beta2"],
            eps=h["eps"],
            weight_decay=h["weight_decay"],
            decoupled_decay=1 - h["lr"] * h["weight_decay"],
            bias_correction2_sqrt=(1 - h["beta2"] ** step) ** 0.5,
            neg_step_size=-(h["lr"] / (1 - h["beta1"] ** step)),
        )
        for p, state in zip(self.params, self.state, strict=True):
            grad = p.grad
            if grad is None:
                continue
            c = {name: self.col(value, p) for name, value in a.items()}
            self.moments(state, p, self.amsgrad)
            if not _is_zero(c["weight_decay"]):
                if self.decoupled:
                    p.mul_(c["decoupled_decay"])
                elif isinstance(c["weight_decay"], Tensor):
                    grad = grad + c["weight_decay"] * p
                else:
                    grad = grad.add(p, alpha=c["weight_decay"])
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, c["one_minus_beta1"])
            exp_avg_sq.mul_(c["beta2"])
            if isinstance(c["one_minus_beta2"], Tensor):
                exp_avg_sq.add_(c["one_minus_beta2"] * grad * grad)  # addcmul's (c * g) * g
            else:
                exp_avg_sq.addcmul_(grad, grad, value=c["one_minus_beta2"])
            second = exp_avg_sq
            if self.amsgrad:
                second = torch.maximum(
                    state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"]
                )
            # (sqrt(v) / bias_correction2_sqrt + eps), then m / it, in one reused buffer
            denom = torch.sqrt(second, out=self.scratch_for(p))
            torch.div(denom, c["bias_correction2_sqrt"], out=denom).add_(c["eps"])
            if isinstance(c["neg_step_size"], Tensor):
                # addcdiv's value * (m / d)
                p.add_(torch.div(exp_avg, denom, out=denom).mul_(c["neg_step_size"]))
            else:
                p.addcdiv_(exp_avg, denom, value=c["neg_step_size"])

    def _kernel_step(self) -> None:
        h, step = self.hyper, self.step_count
        if "vectors" not in self.derived:
            lerp_weight = self.vectors(w=1 - h["beta1"])["w"]
            self.derived["vectors"] = {
                "lerp_weight": lerp_weight,
                "lerp_complement": 1 - lerp_weight,  # in the weights' dtype, as torch.lerp
                **self.vectors(
                    beta2=h["beta2"],
                    one_minus_beta2=1 - h["beta2"],
                    eps=h["eps"],
                    weight_decay=h["weight_decay"],
                    decay=1 - h["lr"] * h["weight_decay"],
                ),
            }
        f = self.float64()
        schedule = self.vectors(
            bias_correction2_sqrt=(1 - f["beta2"] ** step) ** 0.5,
            neg_step_size=-(f["lr"] / (1 - f["beta1"] ** step)),
        )
        v = self.derived["vectors"]
        for rows in self.kernel_rows(self.amsgrad):
            one_pass.adam_step(
                *rows,
                v["lerp_weight"],
                v["lerp_complement"],
                v["beta2"],
                v["one_minus_beta2"],
                v["eps"],
                v["weight_decay"],
                v["decay"],
                schedule["bias_correction2_sqrt"],
                schedule["neg_step_size"],
                self.amsgrad,
                self.decoupled,
            )


class StackedSGD(StackedOptimizer):
    """torch.optim.SGD's single-tensor update with per-member lr, momentum, dampening, Nesterov
    and weight decay. A member with momentum 0 is plain SGD, as in torch."""

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        h = self.hyper
        a = self.args(
            weight_decay=h["weight_decay"],
            momentum=h["momentum"],
            one_minus_dampening=1 - h["dampening"],
            nesterov=h["nesterov"],
            neg_lr=-h["lr"],
        )
        momentum_all = bool((h["momentum"] != 0).all())
        for p, state in zip(self.params, self.state, strict=True):
            grad = p.grad
            if grad is None:
                continue
            c = {name: self.col(value, p) for name, value in a.items()}
            if not _is_zero(c["weight_decay"]):
                grad = _add_scaled(grad.clone(), p, c["weight_decay"])
            update = grad
            if not _is_zero(c["momentum"]):
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.detach().clone()
                else:
                    _add_scaled(buf.mul_(c["momentum"]), grad, c["one_minus_dampening"])
                nesterov = c["nesterov"]
                if isinstance(nesterov, Tensor):
                    update = torch.where(
                        nesterov != 0, _add_scaled(grad.clone(), buf, c["momentum"]), buf
                    )
                elif nesterov:
                    update = _add_scaled(grad.clone(), buf, c["momentum"])
                else:
                    update = buf
                if not momentum_all:  # members without momentum take the plain gradient
                    moving = torch.as_tensor(c["momentum"]) != 0
                    update = torch.where(moving, update, grad)
            _add_scaled(p, update, c["neg_lr"], self.scratch_for(p))


class StackedAdaBound(StackedOptimizer):
    """The AdaBound family through `hpsearch.optim.adabound_update` with per-member
    hyperparameters: the same function the single-model reference path uses."""

    def __init__(
        self,
        params: list[Tensor],
        hyper: dict[str, Tensor],
        *,
        amsbound: bool,
        decoupled: bool,
        kernels: bool | None = None,
    ) -> None:
        super().__init__(params, hyper, kernels=kernels)
        self.initial_lr = hyper["lr"].clone()
        self.amsbound = amsbound
        self.decoupled = decoupled

    def keep(self, index: Tensor, params: list[Tensor]) -> None:
        self.initial_lr = self.initial_lr[index.to(self.initial_lr.device)]
        super().keep(index, params)

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        if self.uses_kernels():
            self._kernel_step()
            return
        like = self.params[0]
        if "args" not in self.derived:
            names = ("lr", "final_lr", "gamma", "beta1", "beta2", "eps", "weight_decay")
            a = self.args(initial_lr=self.initial_lr, **{name: self.hyper[name] for name in names})
            # Per-member values in the weights' dtype, as the moments use them, so the bias
            # corrections match the betas the moments decay with; then the bounds once per step.
            self.derived["args"] = {
                k: v.to(device=like.device, dtype=like.dtype) if isinstance(v, Tensor) else v
                for k, v in a.items()
            }
        a = dict(self.derived["args"])
        bounds = bound_schedule(
            self.step_count,
            lr=a["lr"],
            final_lr=a["final_lr"],
            gamma=a["gamma"],
            beta1=a["beta1"],
            beta2=a["beta2"],
            initial_lr=a["initial_lr"],
        )
        schedule_names = ("step_size", "lower", "upper")
        columns: dict[int, dict[str, Arg]] = {}
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            self.moments(state, p, self.amsbound)
            if p.dim() not in columns:
                key = ("columns", p.dim())
                if key not in self.derived:
                    self.derived[key] = {name: self.col(value, p) for name, value in a.items()}
                columns[p.dim()] = {
                    **self.derived[key],
                    **{n: self.col(v, p) for n, v in zip(schedule_names, bounds, strict=True)},
                }
            c = dict(columns[p.dim()])
            schedule = (c.pop("step_size"), c.pop("lower"), c.pop("upper"))
            adabound_update(
                p,
                p.grad,
                state["exp_avg"],
                state["exp_avg_sq"],
                step=self.step_count,
                max_exp_avg_sq=state.get("max_exp_avg_sq"),
                decoupled_weight_decay=self.decoupled,
                schedule=schedule,
                scratch=self.scratch_for(p),
                **c,  # type: ignore[arg-type]
            )

    def _kernel_step(self) -> None:
        h = self.hyper
        if "vectors" not in self.derived:
            self.derived["vectors"] = self.vectors(
                beta1=h["beta1"],
                one_minus_beta1=1 - h["beta1"],
                beta2=h["beta2"],
                one_minus_beta2=1 - h["beta2"],
                eps=h["eps"],
                weight_decay=h["weight_decay"],
                decay=1 - h["weight_decay"] * (h["lr"] / self.initial_lr),
            )
        f = self.float64()
        if "initial_lr" not in self.derived:
            self.derived["initial_lr"] = self.initial_lr.cpu().numpy()
        step_size, lower, upper = bound_schedule(
            self.step_count,
            lr=f["lr"],
            final_lr=f["final_lr"],
            gamma=f["gamma"],
            beta1=f["beta1"],
            beta2=f["beta2"],
            initial_lr=self.derived["initial_lr"],
        )
        schedule = self.vectors(step_size=step_size, lower=lower, upper=upper)
        v = self.derived["vectors"]
        for rows in self.kernel_rows(self.amsbound):
            one_pass.adabound_step(
                *rows,
                v["beta1"],
                v["one_minus_beta1"],
                v["beta2"],
                v["one_minus_beta2"],
                v["eps"],
                v["weight_decay"],
                v["decay"],
                schedule["step_size"],
                schedule["lower"],
                schedule["upper"],
                self.amsbound,
                self.decoupled,
            )
