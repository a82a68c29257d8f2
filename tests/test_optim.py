"""AdaBound family: parity with the reference package, the three code paths, state and errors."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

from hpsearch.optim import AdaBound, AdaBoundW, AMSBound, adabound_update

adabound_reference = pytest.importorskip("adabound")

# One of each size class: tiny tensors (flat buffers), a mid one, a large one (foreach: with the
# per-tensor clamp; on CPU by default: through the scratch buffer).
SHAPES = [(1,), (7,), (5, 3), (4, 3, 2, 2), (130, 130), (200, 200)]
Make = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    # These tensors are small: with two threads on shared, loaded cores, OpenMP's waits cost more
    # than the work.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(
    make: Make,
    dtype: torch.dtype,
    steps: int,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    device: str = "cpu",
    skip_every: int = 0,
) -> list[torch.Tensor]:
    """Train on a noisy quadratic; gradients depend on the parameters, so paths can diverge."""
    init = torch.Generator().manual_seed(1)
    params = [
        torch.nn.Parameter(torch.randn(s, generator=init, dtype=dtype).to(device)) for s in SHAPES
    ]
    optimizer = make(params)
    sched = scheduler(optimizer) if scheduler else None
    noise = torch.Generator().manual_seed(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's deprecated add_/addcmul_ signatures
        for step in range(steps):
            for i, p in enumerate(params):
                n = torch.randn(p.shape, generator=noise, dtype=dtype).to(device)
                skip = skip_every and i == 1 and step % skip_every == 0
                p.grad = None if skip else p.detach() * 0.5 + 0.1 * n
            optimizer.step()
            if sched:
                sched.step()
    return [p.detach() for p in params]


def _step_lr(opt: torch.optim.Optimizer) -> Any:
    return torch.optim.lr_scheduler.StepLR(opt, step_size=40, gamma=0.3)


def _exp_lr(opt: torch.optim.Optimizer) -> Any:
    return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.98)


CONFIGS = {
    "defaults": ({}, None),
    "weight_decay": ({"weight_decay": 5e-3}, None),
    "amsbound": ({"amsbound": True}, None),
    "non_default": (
        {"lr": 1e-2, "betas": (0.8, 0.99), "final_lr": 0.05, "gamma": 1e-2, "eps": 1e-6},
        None,
    ),
    "steplr": ({}, _step_lr),
    "exponentiallr_ams_wd": ({"amsbound": True, "weight_decay": 1e-3}, _exp_lr),
}


def _close(dtype: torch.dtype) -> dict[str, float]:
    return (
        {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_matches_reference(config: str, dtype: torch.dtype) -> None:
    kwargs, scheduler = CONFIGS[config]
    reference = _run(lambda ps: adabound_reference.AdaBound(ps, **kwargs), dtype, 100, scheduler)
    single = _run(lambda ps: AdaBound(ps, foreach=False, **kwargs), dtype, 100, scheduler)
    foreach = _run(lambda ps: AdaBound(ps, **kwargs), dtype, 100, scheduler)
    for ref, one, many in zip(reference, single, foreach, strict=True):
        assert torch.equal(one, ref), "the single-tensor path keeps the reference's op order"
        torch.testing.assert_close(many, one, **_close(dtype))
    assert not torch.equal(reference[0], _run(lambda ps: AdaBound(ps), dtype, 1)[0])


@pytest.mark.parametrize("config", list(CONFIGS))
def test_cpu_default_is_bitwise_the_foreach_path(config: str) -> None:
    # The CPU default steps large tensors one at a time through a scratch buffer: same ops in the
    # same order as the multi-tensor path, so not even rounding may differ.
    kwargs, scheduler = CONFIGS[config]
    forced = _run(lambda ps: AdaBound(ps, foreach=True, **kwargs), torch.float32, 60, scheduler)
    default = _run(lambda ps: AdaBound(ps, **kwargs), torch.float32, 60, scheduler)
    decoupled = [
        _run(lambda ps, f=f: AdaBoundW(ps, weight_decay=1e-2, foreach=f), torch.float32, 60)
        for f in (True, None)
    ]
    for a, b in zip(forced + decoupled[0], default + decoupled[1], strict=True):
        assert torch.equal(a, b)


def test_per_parameter_step_counter_matches_reference() -> None:
    # A parameter that sometimes has no gradient has its own, slower-closing bounds.
    reference = _run(lambda ps: adabound_reference.AdaBound(ps), torch.float64, 60, skip_every=3)
    ours = _run(lambda ps: AdaBound(ps), torch.float64, 60, skip_every=3)
    for ref, mine in zip(reference, ours, strict=True):
        torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-13)


def test_amsbound_class_is_the_flag() -> None:
    flag = _run(lambda ps: AdaBound(ps, amsbound=True), torch.float64, 40)
    cls = _run(lambda ps: AMSBound(ps), torch.float64, 40)
    assert all(torch.equal(a, b) for a, b in zip(flag, cls, strict=True))


@pytest.mark.parametrize("foreach", [False, True])
def test_adaboundw_is_decoupled_decay_scaled_by_schedule(foreach: bool) -> None:
    wd = 1e-2
    ours = _run(
        lambda ps: AdaBoundW(ps, weight_decay=wd, foreach=foreach), torch.float64, 80, _exp_lr
    )

    class Manual(AdaBound):
        """The documented rule by hand: p <- p - rate * m - wd * (lr / initial_lr) * p_old."""

        @torch.no_grad()
        def step(self, closure: Any = None) -> None:  # type: ignore[override]
            group = self.param_groups[0]
            old = [p.clone() for p in group["params"]]
            super().step()
            factor = wd * group["lr"] / group["initial_lr"]
            for p, p_old in zip(group["params"], old, strict=True):
                p.sub_(factor * p_old)

    manual = _run(lambda ps: Manual(ps, foreach=False), torch.float64, 80, _exp_lr)
    plain = _run(lambda ps: AdaBound(ps), torch.float64, 80, _exp_lr)
    for a, b in zip(ours, manual, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(ours[-1], plain[-1])


def _state_trajectory(resume_at: int | None, steps: int = 40) -> list[torch.Tensor]:
    """ExponentialLR run; with `resume_at`, rebuild optimizer and scheduler from saved state with
    the already-decayed lr (the way the reference loses its bound scaling)."""
    params = [
        torch.nn.Parameter(torch.randn(s, generator=torch.Generator().manual_seed(3)))
        for s in SHAPES
    ]
    optimizer: torch.optim.Optimizer = AdaBound(params, lr=1e-2, amsbound=True)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    noise = torch.Generator().manual_seed(4)
    for step in range(steps):
        if step == resume_at:
            buffer = io.BytesIO()
            torch.save({"opt": optimizer.state_dict(), "sched": scheduler.state_dict()}, buffer)
            buffer.seek(0)
            saved = torch.load(buffer)
            params = [torch.nn.Parameter(p.detach().clone()) for p in params]
            optimizer = AdaBound(params, lr=optimizer.param_groups[0]["lr"], amsbound=True)
            optimizer.load_state_dict(saved["opt"])
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
            scheduler.load_state_dict(saved["sched"])
            assert optimizer.param_groups[0]["initial_lr"] == 1e-2
        for p in params:
            p.grad = p.detach() * 0.5 + 0.1 * torch.randn(p.shape, generator=noise)
        optimizer.step()
        scheduler.step()
    return [p.detach() for p in params]


def test_state_dict_round_trip_continues_identically_and_keeps_bound_scaling() -> None:
    straight = _state_trajectory(None)
    resumed = _state_trajectory(20)
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)


def test_add_param_group_is_updated_with_its_own_initial_lr() -> None:
    torch.manual_seed(0)
    first, late = torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(6, 6))
    alone = torch.nn.Parameter(late.detach().clone())
    optimizer = AdaBound([first], lr=1e-3)
    optimizer.add_param_group({"params": [late], "lr": 5e-2})
    assert optimizer.param_groups[1]["initial_lr"] == 5e-2
    fresh = AdaBound([alone], lr=5e-2)
    for _ in range(20):
        for p in (first, late, alone):
            p.grad = p.detach() * 0.5 + 0.01
        optimizer.step()
        fresh.step()
    assert torch.equal(late, alone)


def test_lr_zero_at_construction_is_a_clear_error() -> None:
    param = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(ValueError, match=r"initial learning rate.*must be > 0"):
        AdaBound([param], lr=0.0)
    optimizer = AdaBound([param])
    with pytest.raises(ValueError, match="must be > 0"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": 0.0})


def test_scheduler_may_take_lr_to_zero_later() -> None:
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = AdaBound([param])
    optimizer.param_groups[0]["lr"] = 0.0  # what a scheduler does; bounds close on 0
    param.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(param, torch.ones(3))


def test_gamma_zero_means_no_upper_bound_instead_of_zero_division() -> None:
    ours = _run(lambda ps: AdaBound(ps, gamma=0.0), torch.float64, 5)
    assert all(torch.isfinite(p).all() for p in ours)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"gamma": 1.0}, "gamma"),
        ({"gamma": -0.1}, "gamma"),
        ({"betas": (1.0, 0.999)}, "beta parameter at index 0"),
        ({"betas": (0.9, -0.1)}, "beta parameter at index 1"),
        ({"eps": -1e-8}, "eps"),
        ({"final_lr": -0.1}, "final_lr"),
        ({"weight_decay": -1e-4}, "weight_decay"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        AdaBound([torch.nn.Parameter(torch.ones(2))], **kwargs)


@pytest.mark.parametrize("amsbound", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_functional_update_on_stacked_members_equals_separate_runs(
    amsbound: bool, decoupled: bool
) -> None:
    # Population training stacks K models along dim 0 with per-member hyperparameters.
    members = [
        {
            "lr": 1e-3,
            "final_lr": 0.1,
            "gamma": 1e-3,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "weight_decay": 0.0,
            "initial_lr": 1e-3,
        },
        {
            "lr": 5e-3,
            "final_lr": 0.03,
            "gamma": 1e-2,
            "beta1": 0.8,
            "beta2": 0.99,
            "eps": 1e-6,
            "weight_decay": 1e-2,
            "initial_lr": 1e-2,
        },
        {
            "lr": 2e-2,
            "final_lr": 0.5,
            "gamma": 1e-4,
            "beta1": 0.0,
            "beta2": 0.9,
            "eps": 0.0,
            "weight_decay": 1e-3,
            "initial_lr": 2e-2,
        },
    ]
    k, shape = len(members), (4, 5)
    torch.manual_seed(0)
    stacked = torch.randn(k, *shape, dtype=torch.float64)
    separate = [stacked[i].clone() for i in range(k)]
    hyper = {
        key: torch.tensor([m[key] for m in members], dtype=torch.float64).view(k, 1, 1)
        for key in members[0]
    }
    zeros = lambda t: torch.zeros_like(t)  # noqa: E731
    state = [zeros(stacked), zeros(stacked), zeros(stacked) if amsbound else None]
    states = [[zeros(s), zeros(s), zeros(s) if amsbound else None] for s in separate]
    for step in range(1, 31):
        noise = torch.randn(k, *shape, dtype=torch.float64)
        adabound_update(
            stacked,
            stacked * 0.5 + noise,
            state[0],
            state[1],
            step=step,
            max_exp_avg_sq=state[2],
            decoupled_weight_decay=decoupled,
            **hyper,
        )
        for i, (param, st) in enumerate(zip(separate, states, strict=True)):
            adabound_update(
                param,
                param * 0.5 + noise[i],
                st[0],
                st[1],
                step=step,
                max_exp_avg_sq=st[2],
                decoupled_weight_decay=decoupled,
                **members[i],
            )
    for i in range(k):
        torch.testing.assert_close(stacked[i], separate[i], rtol=1e-12, atol=1e-14)
    assert not torch.allclose(stacked[0], stacked[1])


@pytest.mark.slow
def test_compiled_path_matches_single_tensor_path() -> None:
    kwargs = {"amsbound": True, "weight_decay": 1e-3}
    single = _run(lambda ps: AdaBound(ps, foreach=False, **kwargs), torch.float32, 30, _step_lr)
    fused = _run(lambda ps: AdaBound(ps, fused=True, **kwargs), torch.float32, 30, _step_lr)
    for a, b in zip(single, fused, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_cuda_matches_reference(dtype: torch.dtype) -> None:
    kwargs, scheduler = CONFIGS["exponentiallr_ams_wd"]
    reference = _run(
        lambda ps: adabound_reference.AdaBound(ps, **kwargs), dtype, 100, scheduler, device="cuda"
    )
    for foreach in (False, True):
        ours = _run(
            lambda ps, foreach=foreach: AdaBound(ps, foreach=foreach, **kwargs),
            dtype,
            100,
            scheduler,
            device="cuda",
        )
        for ref, mine in zip(reference, ours, strict=True):
            assert mine.is_cuda
            torch.testing.assert_close(mine, ref, **_close(dtype))
