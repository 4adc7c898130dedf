"""Learning-rate schedules: the formulas at the points where they are known, and bad input."""
import math

import numpy as np
import pytest

from tinygrad_edu import Parameter, optim
from tinygrad_edu.schedules import (NAMED, Constant, Cosine, Exponential, StepDecay, constant,
                                    cosine, exponential, make_schedule, step_decay)


def test_cosine_starts_at_lr0_halves_at_midpoint_and_ends_at_lr_min():
    s = cosine(2e-3, 3000)
    assert s(0) == pytest.approx(2e-3)
    assert s(1500) == pytest.approx(1e-3)
    assert s(750) == pytest.approx(1e-3 * (1 + math.cos(math.pi / 4)))
    assert s(3000) == pytest.approx(0.0, abs=1e-18)
    assert s(10_000) == s(3000)                      # stays at lr_min after T
    with_floor = Cosine(1.0, 10, lr_min=0.1)
    assert with_floor(0) == pytest.approx(1.0) and with_floor(10) == pytest.approx(0.1)
    assert with_floor(5) == pytest.approx(0.55)


def test_cosine_decreases_monotonically():
    lrs = [cosine(1.0, 100)(t) for t in range(101)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_step_decay_and_exponential_follow_their_formulas():
    s = step_decay(0.1, step_size=10, gamma=0.5)
    assert [s(t) for t in (0, 9, 10, 19, 20, 35)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125])
    assert StepDecay(1.0, 3)(3) == pytest.approx(0.1)       # default gamma 0.1
    e = exponential(2.0, 0.9)
    assert [e(t) for t in range(4)] == pytest.approx([2.0, 1.8, 1.62, 1.458])
    assert constant(0.3)(0) == constant(0.3)(10**6) == 0.3


def test_numpy_integer_steps_are_accepted_and_give_python_floats():
    for s in (Cosine(1.0, 10), StepDecay(1.0, 2), Exponential(1.0, 0.5), Constant(1.0)):
        value = s(np.int64(3))
        assert type(value) is float and value == pytest.approx(s(3))


@pytest.mark.parametrize("build, message", [
    (lambda: Cosine(1e-3, 0), "total_steps"),
    (lambda: Cosine(1e-3, 10.0), "total_steps"),
    (lambda: Cosine(-1.0, 10), "lr0"),
    (lambda: Cosine(1e-3, 10, lr_min=float("nan")), "lr_min"),
    (lambda: StepDecay(0.1, 0), "step_size"),
    (lambda: StepDecay(0.1, 5, gamma=0), "gamma"),
    (lambda: Exponential(0.1, -0.5), "gamma"),
    (lambda: Constant(float("inf")), "lr0"),
])
def test_bad_hyper_parameters_are_refused_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("step", [-1, 1.5, True, "3"])
def test_bad_steps_are_refused(step):
    with pytest.raises(ValueError, match="Cosine: step must be an integer >= 0"):
        Cosine(1.0, 10)(step)


def test_repr_says_what_was_used():
    assert repr(cosine(0.002, 3000)) == "Cosine(lr0=0.002, total_steps=3000, lr_min=0.0)"


def test_make_schedule_builds_named_schedules_and_passes_callables_through():
    assert make_schedule(None, 0.1, 10) is None
    assert make_schedule("cosine", 0.1, 10) == Cosine(0.1, 10)
    assert make_schedule("COSINE", 0.1, 10) == Cosine(0.1, 10)
    assert make_schedule("constant", 0.1, 10) == Constant(0.1)
    own = StepDecay(0.1, 5)
    assert make_schedule(own, 1.0, 10) is own
    assert set(NAMED) == {"constant", "cosine"}
    with pytest.raises(ValueError, match=r"unknown learning-rate schedule 'linear'.*constant, cosine"):
        make_schedule("linear", 0.1, 10)
    with pytest.raises(TypeError, match="lr_schedule must be"):
        make_schedule(0.5, 0.1, 10)


def test_setting_optimizer_lr_from_a_schedule_changes_each_step():
    """The way schedules are applied: the optimizer reads lr at every step."""
    p = Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=123.0)
    s = step_decay(1.0, step_size=1, gamma=0.5)      # 1, 0.5, 0.25
    for step in range(3):
        opt.lr = s(step)
        p.grad = None
        (p * 1.0).sum().backward()                   # gradient 1: each step moves p by -lr
        opt.step()
    assert p.data[0] == pytest.approx(-1.75)


def test_benchmark_E_writes_out_the_same_cosine_for_pytorch():
    """benchmarks/spec.py gives PyTorch the fast recipe's lr by its own formula; it must agree
    with tinygrad_edu.schedules.Cosine at every step (benchmarks/ is loaded by path: it is not
    a package)."""
    import importlib.util
    import sys
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "spec.py"
    spec = importlib.util.spec_from_file_location("benchmarks_spec", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module              # dataclasses look their module up there
    spec.loader.exec_module(module)
    fast, book = module.E_RECIPES["fast"], module.E_RECIPES["book"]
    ours = Cosine(fast.lr, fast.cosine_epochs * 600)
    for step in (0, 1, 599, 1500, 2999, 3000, 3500):
        assert module.e_learning_rate(fast, step) == pytest.approx(ours(step), rel=1e-12, abs=1e-18)
    assert module.e_learning_rate(book, 1234) == book.lr == 1e-3
    w = module.e_initial_weights("he")
    assert w["fc1_W"].shape == (4320, 100) and w["fc1_W"].dtype == np.float32
    assert w["fc1_W"].std() == pytest.approx(math.sqrt(2 / 4320), rel=0.02)
    assert not w["conv_b"].any()
