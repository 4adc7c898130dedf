"""Tests of the Optimizer base class and the standard optimizers.

What every optimizer promises (the Optimizer contract and its ``OptimizerCheck``) is checked
by the conformance suite, :func:`tinygrad_edu.testing.check_component`: a zero gradient
leaves the parameters alone, the first step equals the declared formula with lr read at step
time, changing ``opt.lr`` takes effect, a convex quadratic decreases, ``state_dict`` survives
``numpy.savez``, float32 stays float32. The first section runs it over the standard optimizers
(tests/test_conformance.py runs it over every registered one and shows that it catches broken
optimizers). The generic checks below add what the suite does not look at; then the standard
optimizers and the base class are tested specifically.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Parameter, Tensor, registry
from tinygrad_edu.components import Component, OptimizerCheck
from tinygrad_edu.optimizer import ClipGrad, Optimizer, WeightDecay
from tinygrad_edu.testing import ConformanceError, check_component, float_arrays, shapes
from tinygrad_edu_plugins import optimizers as standard
from tinygrad_edu_plugins.optimizers import (SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov,
                                             RMSprop)

STANDARD = standard.register_optimizers()
STANDARD_IDS = [c.name for c in STANDARD]

# ======================================================================================
# The conformance suite over the standard optimizers
# ======================================================================================


@pytest.mark.parametrize("name", STANDARD_IDS)
def test_standard_optimizer_passes_the_conformance_suite(name):
    check_component(registry.get_component("optimizer", name))


class CachedLr(Optimizer):
    """p <- p - lr g with the lr from construction time."""

    def __init__(self, params, lr=0.01, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        self.fixed_lr = lr

    def update_one(self, param, grad, state):
        param.data -= self.fixed_lr * grad


@pytest.mark.parametrize("declared, failing_check", [
    (OptimizerCheck(step=standard._sgd_step), "first step"),
    (OptimizerCheck(), "learning rate"),
], ids=["with-first_step", "without-first_step"])
def test_the_suite_catches_an_lr_read_at_construction(declared, failing_check):
    """The suite builds the optimizer with one lr and sets ``opt.lr`` before stepping, as a
    learning-rate schedule does: an optimizer that keeps the constructor's lr fails the first
    step against its formula and, without a formula, the learning-rate check."""
    cached = Component("cached", CachedLr, check=declared, kind="optimizer")
    with pytest.raises(ConformanceError) as info:
        check_component(cached, max_examples=10)
    assert info.value.check == failing_check, str(info.value)


# ======================================================================================
# Generic checks the conformance suite does not make
# ======================================================================================

CHECK_LR = 0.01  # learning rate the checks use unless OptimizerCheck.kwargs sets "lr"


def _label(comp: Component) -> str:
    return f"optimizer {comp.name!r}" + (f" (plugin {comp.plugin!r})" if comp.plugin else "")


def _kwargs(comp: Component, **overrides) -> dict:
    """Constructor arguments: ``lr=CHECK_LR``, then the declared kwargs, then ``overrides``."""
    check = comp.check if isinstance(comp.check, OptimizerCheck) else OptimizerCheck()
    return {"lr": CHECK_LR, **check.kwargs, **overrides}


def _build(comp: Component, arrays, **kwargs):
    params = [Parameter(np.array(a, copy=True)) for a in arrays]
    return params, comp.obj(params, **kwargs)


def _step(optimizer, params, grads) -> None:
    for param, grad in zip(params, grads):
        param.grad = None if grad is None else Tensor(np.array(grad, copy=True))
    optimizer.step()


def check_save_restore(comp: Component, arrays, grad_sequence, stop: int) -> None:
    """Run ``stop`` steps, save, load into a new optimizer over copies of the parameters, and
    continue: the result equals an uninterrupted run exactly, also through ``numpy.savez``, and
    the restored optimizer shares no arrays with the one it was saved from. Beyond the suite's
    round trip: the saved optimizer, continued too, still matches (``state_dict()`` changes
    nothing, nothing is shared), and so do the continued optimizers' state_dicts."""
    kwargs = _kwargs(comp)
    params_a, uninterrupted = _build(comp, arrays, **kwargs)
    params_b, saved = _build(comp, arrays, **kwargs)
    for grads in grad_sequence:
        _step(uninterrupted, params_a, grads)
    for grads in grad_sequence[:stop]:
        _step(saved, params_b, grads)
    state = saved.state_dict()
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    from_disk = dict(np.load(buffer))
    restored = []
    for source in (state, from_disk):
        other_kwargs = {**kwargs, "lr": kwargs["lr"] * 3 + 0.5}  # load_state_dict must restore lr
        params_c, opt = _build(comp, [p.data for p in params_b], **other_kwargs)
        opt.load_state_dict(source)
        restored.append((params_c, opt))
    for grads in grad_sequence[stop:]:
        _step(saved, params_b, grads)
        for params_c, opt in restored:
            _step(opt, params_c, grads)
    for where, params in [("saved-and-continued", params_b), ("restored", restored[0][0]),
                          ("restored via numpy.savez", restored[1][0])]:
        for index, (p, q) in enumerate(zip(params_a, params)):
            assert np.array_equal(p.data, q.data), (
                f"{_label(comp)}: after save at step {stop}, the {where} run differs from the "
                f"uninterrupted one in parameter {index}")
    expected = saved.state_dict()
    for where, (_, opt) in zip(["restored", "restored via numpy.savez"], restored):
        got = opt.state_dict()
        assert sorted(got) == sorted(expected), (
            f"{_label(comp)}: the {where} optimizer's state_dict has keys {sorted(got)}, expected {sorted(expected)}")
        for key, value in expected.items():
            assert np.array_equal(got[key], value), (
                f"{_label(comp)}: the {where} optimizer's state_dict[{key!r}] is {got[key]!r}, expected {value!r}")


def check_load_rejects_mismatch(comp: Component, arrays, grads) -> None:
    """Loading a state saved for other parameter shapes raises ValueError."""
    params, opt = _build(comp, arrays, **_kwargs(comp))
    _step(opt, params, grads)
    state = opt.state_dict()
    bigger = [np.zeros(np.shape(a) + (2,)) for a in arrays]
    _, other = _build(comp, bigger, **_kwargs(comp))
    with pytest.raises(ValueError):
        other.load_state_dict(state)
    _, fewer_or_more = _build(comp, list(arrays) + [np.zeros(3)], **_kwargs(comp))
    with pytest.raises(ValueError):
        fewer_or_more.load_state_dict(state)


def check_float32_in_place(comp: Component, arrays, grad_sequence) -> None:
    """float32 parameters stay float32, are updated in the same array object (so views see the
    update), state arrays are float32 too, and step() does not modify the gradient arrays."""
    params = [Parameter(np.array(a, dtype=np.float32)) for a in arrays]
    originals = [p.data for p in params]
    views = [p.data.reshape(-1) for p in params]
    before = [v.copy() for v in views]
    opt = comp.obj(params, **_kwargs(comp))
    for grads in grad_sequence:
        tensors = [Tensor(np.array(g, copy=True)) for g in grads]
        copies = [t.data.copy() for t in tensors]
        for p, t in zip(params, tensors):
            p.grad = t
        opt.step()
        for index, (t, c) in enumerate(zip(tensors, copies)):
            assert np.array_equal(t.data, c), f"{_label(comp)}: step() modified the gradient of parameter {index}"
    for index, (p, original) in enumerate(zip(params, originals)):
        assert p.data is original, f"{_label(comp)}: parameter {index} got a new array instead of an in-place update"
        assert p.data.dtype == np.float32, f"{_label(comp)}: parameter {index} became {p.data.dtype}"
    assert any(not np.array_equal(v, b) for v, b in zip(views, before)), (
        f"{_label(comp)}: views of the parameters did not see the update")
    for index, state in enumerate(opt.state):
        for key, value in state.items():
            if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
                assert value.dtype == np.float32, (
                    f"{_label(comp)}: state {key!r} of parameter {index} is {value.dtype}, not float32")


# ======================================================================================
# The standard optimizers through these checks
# ======================================================================================

param_lists = st.lists(float_arrays(shapes(min_dims=0, max_dims=3, max_side=4)), min_size=1, max_size=3)


@st.composite
def nonzero_like(draw, arrays, low=0.1, high=3.0):
    """Gradients shaped like ``arrays`` with |g| in [low, high] (a random sign each)."""
    out = []
    for a in arrays:
        magnitude = draw(float_arrays(np.shape(a), low=low, high=high))
        sign = draw(float_arrays(np.shape(a), low=-1.0, high=1.0))
        out.append(np.where(sign < 0, -magnitude, magnitude))
    return out


@st.composite
def params_and_grad_sequence(draw, min_steps=1, max_steps=6):
    arrays = draw(param_lists)
    steps = draw(st.integers(min_steps, max_steps))
    sequence = [draw(nonzero_like(arrays)) for _ in range(steps)]
    return arrays, sequence


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
@given(case=params_and_grad_sequence(min_steps=2, max_steps=7), data=st.data())
def test_save_restore_continues_exactly(comp, case, data):
    arrays, sequence = case
    stop = data.draw(st.integers(1, len(sequence) - 1))
    check_save_restore(comp, arrays, sequence, stop)


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
def test_load_rejects_mismatch(comp):
    arrays = [np.ones((2, 3)), np.ones(3)]
    check_load_rejects_mismatch(comp, arrays, [np.full((2, 3), 0.5), np.full(3, -0.5)])


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
@given(case=params_and_grad_sequence(max_steps=3), grad64=st.booleans())
def test_float32_in_place(comp, case, grad64):
    arrays, sequence = case
    dtype = np.float64 if grad64 else np.float32  # a float64 gradient must not upcast the parameter
    sequence = [[g.astype(dtype) for g in grads] for grads in sequence]
    check_float32_in_place(comp, arrays, sequence)


def test_checks_catch_a_broken_optimizer():
    """These checks fail for an optimizer that breaks their promise."""

    class OutOfPlace(Optimizer):
        """p ← p − lr·g, but a new float64 array."""

        def update_one(self, param, grad, state):
            param.data = (param.data - self.lr * grad).astype(np.float64)

    class ForgetsState(Optimizer):
        """Momentum whose velocity is not in ``state`` (so it is not saved)."""

        def __init__(self, params, lr=0.01, weight_decay=0.0):
            super().__init__(params, lr=lr, weight_decay=weight_decay)
            self.velocity = {}

        def update_one(self, param, grad, state):
            v = self.velocity.setdefault(id(param), np.zeros_like(param.data))
            v *= 0.9
            v -= self.lr * grad
            param.data += v

    def sgd_first(p, g, lr, weight_decay=0.0):
        return standard._sgd_step(p, g, {}, lr, weight_decay)[0]
    arrays, grads = [np.array([1.0, -2.0])], [np.array([0.5, 0.25])]
    out_of_place = Component("oop", OutOfPlace, check=OptimizerCheck(first_step=sgd_first))
    with pytest.raises(AssertionError, match="in-place"):
        check_float32_in_place(out_of_place, arrays, [grads])
    forgets = Component("forgets", ForgetsState, check=OptimizerCheck(first_step=sgd_first))
    with pytest.raises(AssertionError, match="differs from the uninterrupted"):
        check_save_restore(forgets, arrays, [grads, grads, grads], stop=2)


# ======================================================================================
# The standard optimizers over several steps, against independent numpy references
# ======================================================================================

def _reference_run(name, p, grads, lr, wd, **hp):
    """The documented formulas, written out directly in float64 for a list of gradients."""
    p = p.copy()
    v = np.zeros_like(p)
    h = np.zeros_like(p)
    m = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if name != "adamw":
            g = g + wd * p
        if name == "sgd":
            p = p - lr * g
        elif name == "momentum":
            v = hp["momentum"] * v - lr * g
            p = p + v
        elif name == "nesterov":
            mu = hp["momentum"]
            v = mu * v - lr * g
            p = p + mu * mu * v - (1 + mu) * lr * g
        elif name == "adagrad":
            h = h + g * g
            p = p - lr * g / (np.sqrt(h) + 1e-7)
        elif name == "rmsprop":
            h = hp["decay_rate"] * h + (1 - hp["decay_rate"]) * g * g
            p = p - lr * g / (np.sqrt(h) + 1e-7)
        else:  # adam, adamw
            b1, b2 = hp["beta1"], hp["beta2"]
            if name == "adamw":
                p = p - lr * wd * p
            m = b1 * m + (1 - b1) * g
            h = b2 * h + (1 - b2) * g * g
            p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(h / (1 - b2 ** t)) + 1e-8)
    return p


REFERENCE_HP = {
    "sgd": {}, "momentum": {"momentum": 0.85}, "nesterov": {"momentum": 0.85}, "adagrad": {},
    "rmsprop": {"decay_rate": 0.95}, "adam": {"beta1": 0.85, "beta2": 0.99},
    "adamw": {"beta1": 0.85, "beta2": 0.99},
}


@pytest.mark.parametrize("comp", STANDARD, ids=STANDARD_IDS)
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_several_steps_match_reference(comp, wd):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(8)]
    hp = REFERENCE_HP[comp.name]
    params, opt = _build(comp, [p0], lr=0.05, weight_decay=wd, **hp)
    for g in grads:
        _step(opt, params, [g])
    np.testing.assert_allclose(params[0].data, _reference_run(comp.name, p0, grads, 0.05, wd, **hp),
                               rtol=1e-10, atol=1e-12)


def test_adam_equals_the_books_lr_t_form_up_to_eps():
    """The book: lr_t = lr·√(1−β2^t)/(1−β1^t); p ← p − lr_t·m/(√v + eps). With eps → 0 it is
    the standard form exactly."""
    rng = np.random.default_rng(1)
    p0, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(6)]
    param = Parameter(p0.copy())
    opt = Adam([param], lr=0.1, eps=0.0)
    p, m, v = p0.copy(), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, start=1):
        param.grad = Tensor(g)
        opt.step()
        lr_t = 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m += (1 - 0.9) * (g - m)
        v += (1 - 0.999) * (g ** 2 - v)
        p -= lr_t * m / np.sqrt(v)
    np.testing.assert_allclose(param.data, p, rtol=1e-12)


def test_nesterov_first_step_is_the_books():
    """The book's code: v ← m·v − lr·g; p += m²·v; p −= (1+m)·lr·g (new v)."""
    param = Parameter(np.array([1.0]))
    opt = Nesterov([param], lr=0.1, momentum=0.9)
    param.grad = Tensor(np.array([2.0]))
    opt.step()
    v = -0.1 * 2.0
    np.testing.assert_allclose(param.data, [1.0 + 0.81 * v - 1.9 * 0.1 * 2.0])


def test_book_defaults():
    p = [Parameter(np.zeros(2))]
    assert SGD(p).lr == 0.01
    assert Momentum(p).momentum == 0.9 and Momentum(p).lr == 0.01
    assert AdaGrad(p).eps == 1e-7
    assert RMSprop(p).decay_rate == 0.99 and RMSprop(p).eps == 1e-7
    adam = Adam(p)
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.001, 0.9, 0.999, 1e-8)
    assert AdamW(p).weight_decay == 0.01 and Adam(p).weight_decay == 0.0


def test_adamw_decay_is_decoupled_from_the_gradient():
    """AdamW with a zero gradient only shrinks p by the factor (1 − lr·λ); Adam with L2 would
    instead take a full normalised step of size ≈ lr."""
    a, b = Parameter(np.array([2.0, -4.0])), Parameter(np.array([2.0, -4.0]))
    adamw, adam = AdamW([a], lr=0.1, weight_decay=0.5), Adam([b], lr=0.1, weight_decay=0.5)
    for opt, param in [(adamw, a), (adam, b)]:
        param.grad = Tensor(np.zeros(2))
        opt.step()
    np.testing.assert_allclose(a.data, [2.0 * 0.95, -4.0 * 0.95])
    np.testing.assert_allclose(b.data, [2.0 - 0.1, -4.0 + 0.1], rtol=1e-6)


def test_standard_optimizers_via_registry():
    for comp in STANDARD:
        assert registry.get("optimizer", comp.name) is comp.obj
        assert registry.get("optimizer", comp.obj.__name__) is comp.obj  # optim.Adam resolves too
        assert comp.doc, f"{comp.name} has no docstring"
    registered = {c.name: c for c in registry.components("optimizer")}
    assert {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"} <= set(registered)


# ======================================================================================
# The Optimizer base class
# ======================================================================================

def test_parameters_without_grad_are_skipped():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
    opt = Momentum([a, b], lr=0.1)
    a.grad = Tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.data, [0.9, 0.9])
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert opt.state[1] == {} and "v" in opt.state[0]
    assert opt.iterations == 1


def test_zero_grad_clears_gradients():
    a = Parameter(np.ones(2))
    opt = SGD([a])
    (a * a).sum().backward()
    assert a.grad is not None
    opt.zero_grad()
    assert a.grad is None


def test_training_with_backward():
    """The usual loop: zero_grad, forward, backward, step."""
    w = Parameter(np.array([3.0, -1.0], dtype=np.float32))
    opt = Adam([w], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        loss = ((w - 1.0) * (w - 1.0)).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(w.data, [1.0, 1.0], atol=1e-2)
    assert w.data.dtype == np.float32


def test_hooks_run_before_the_update_with_the_params_that_have_grads():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = SGD([a, b], lr=1.0)
    seen = []

    @opt.add_hook
    def record(params):
        seen.append((list(params), a.data.copy()))

    a.grad = Tensor(np.ones(2))
    opt.step()
    assert seen[0][0] == [a] and seen[0][0][0] is a
    np.testing.assert_array_equal(seen[0][1], np.ones(2))  # called before the update
    np.testing.assert_array_equal(a.data, np.zeros(2))
    with pytest.raises(TypeError, match="callable"):
        opt.add_hook(3)


def test_weight_decay_hook_equals_weight_decay_argument():
    p0, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0])
    a, b = Parameter(p0.copy()), Parameter(p0.copy())
    with_arg = Momentum([a], lr=0.1, weight_decay=0.2)
    with_hook = Momentum([b], lr=0.1)
    with_hook.add_hook(WeightDecay(0.2))
    for _ in range(3):
        a.grad, b.grad = Tensor(g.copy()), Tensor(g.copy())
        with_arg.step()
        with_hook.step()
    np.testing.assert_allclose(a.data, b.data, rtol=1e-14)


def test_clip_grad_hook_limits_the_global_norm():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(1))
    opt = SGD([a, b], lr=1.0)
    opt.add_hook(ClipGrad(1.0))
    shared = Tensor(np.array([3.0, 4.0]))
    a.grad, b.grad = shared, Tensor(np.array([0.0]))
    opt.step()
    np.testing.assert_allclose(a.data, [-0.6, -0.8], rtol=1e-5)  # norm 5 -> 1
    np.testing.assert_array_equal(shared.data, [3.0, 4.0])  # a shared gradient tensor is not modified
    a.grad, b.grad = Tensor(np.array([0.3, 0.4])), Tensor(np.array([0.0]))  # norm 0.5: untouched
    opt.step()
    np.testing.assert_allclose(a.data, [-0.9, -1.2], rtol=1e-5)


def test_weight_decay_argument_does_not_modify_the_gradient():
    a = Parameter(np.array([1.0, 2.0]))
    opt = SGD([a], lr=0.1, weight_decay=0.5)
    a.grad = Tensor(np.array([1.0, 1.0]))
    opt.step()
    np.testing.assert_allclose(a.data, [1.0 - 0.1 * 1.5, 2.0 - 0.1 * 2.0])
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])


def test_lr_change_exact_for_sgd():
    a = Parameter(np.array([1.0]))
    opt = SGD([a], lr=0.1)
    a.grad = Tensor(np.array([1.0]))
    opt.step()
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(a.data, [1.0 - 0.1 - 0.5])


def test_state_dict_is_a_flat_copy():
    a = Parameter(np.ones((2, 2), dtype=np.float32))
    opt = Adam([a], lr=0.1)
    a.grad = Tensor(np.ones((2, 2), dtype=np.float32))
    opt.step()
    state = opt.state_dict()
    assert state["optimizer"] == "Adam" and state["iterations"] == 1
    assert state["hyper.lr"] == 0.1 and state["scalar.0.step"] == 1
    assert state["state.0.m"].dtype == np.float32
    saved_m = state["state.0.m"].copy()
    opt.step()
    np.testing.assert_array_equal(state["state.0.m"], saved_m)  # later steps do not change it
    assert all(isinstance(v, (str, int, float, np.ndarray)) for v in state.values())


def test_load_state_dict_errors_name_the_problem():
    a = Parameter(np.ones(3))
    adam = Adam([a])
    a.grad = Tensor(np.ones(3))
    adam.step()
    state = adam.state_dict()
    with pytest.raises(ValueError, match="saved by optimizer 'Adam', not 'SGD'"):
        SGD([Parameter(np.ones(3))]).load_state_dict(state)
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(4,\).*\(3,\)"):
        Adam([Parameter(np.ones(4))]).load_state_dict(state)
    with pytest.raises(ValueError, match="for 1 parameters, this optimizer has 2"):
        Adam([Parameter(np.ones(3)), Parameter(np.ones(3))]).load_state_dict(state)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        Adam([Parameter(np.ones(3))]).load_state_dict({**state, "hyper.gamma": 1.0})
    with pytest.raises(ValueError, match="malformed key"):
        Adam([Parameter(np.ones(3))]).load_state_dict({**state, "state.7.m": np.ones(3)})


def test_load_casts_state_to_the_parameter_dtype():
    a = Parameter(np.ones(3))
    src = Momentum([a], lr=0.1)
    a.grad = Tensor(np.ones(3))
    src.step()
    b = Parameter(np.ones(3, dtype=np.float32))
    dst = Momentum([b], lr=0.1)
    dst.load_state_dict(src.state_dict())
    assert dst.state[0]["v"].dtype == np.float32


@pytest.mark.parametrize("bad, error, match", [
    ([], ValueError, "empty"),
    ([{"params": []}], TypeError, "parameter groups"),
    ({"W": 1}, TypeError, "got a dict"),
    ([np.zeros(3)], TypeError, "expected a Parameter"),
    ([Parameter(np.zeros(3))] * 2, ValueError, "twice"),
])
def test_bad_params_are_rejected(bad, error, match):
    with pytest.raises(error, match=match):
        SGD(bad)


def test_integer_parameter_is_rejected():
    class IntParam:
        data = np.zeros(3, dtype=np.int64)
        grad = None

    with pytest.raises(TypeError, match="int64"):
        SGD([IntParam()])


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"lr": float("nan")}, {"weight_decay": -0.1}, {"lr": "fast"}])
def test_bad_hyper_parameters_are_rejected(kwargs):
    with pytest.raises((ValueError, TypeError), match="SGD"):
        SGD([Parameter(np.zeros(2))], **kwargs)


def test_gradient_of_the_wrong_shape_is_reported():
    a = Parameter(np.zeros(3))
    opt = SGD([a])
    a.grad = Tensor(np.zeros(4))
    with pytest.raises(ValueError, match=r"SGD.step: parameter 0 has shape \(3,\).*\(4,\)"):
        opt.step()


def test_base_update_one_must_be_overridden():
    a = Parameter(np.zeros(3))
    opt = Optimizer([a])
    a.grad = Tensor(np.zeros(3))
    with pytest.raises(NotImplementedError, match="update_one"):
        opt.step()


@pytest.mark.parametrize("cls, kwargs, match", [
    (Momentum, {"momentum": 1.0}, "Momentum: momentum must be in"),
    (Nesterov, {"momentum": -0.1}, "Nesterov: momentum"),
    (RMSprop, {"decay_rate": 1.5}, "RMSprop: decay_rate"),
    (Adam, {"beta2": 1.0}, "Adam: beta2"),
    (AdamW, {"beta1": -1}, "AdamW: beta1"),
    (AdaGrad, {"eps": -1e-7}, "AdaGrad: eps"),
])
def test_bad_decay_rates_are_rejected(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([Parameter(np.zeros(2))], **kwargs)


# ======================================================================================
# PyTorch's SGD and Adam options, against PyTorch's published formulas written in numpy
# ======================================================================================
#
# torch.optim.SGD (docs, "Algorithm"): g ← g + λ·p; if μ ≠ 0: b ← g at t = 1, else
# b ← μ·b + (1 − τ)·g; g ← g + μ·b if nesterov else b; p ← p − lr·g.
# torch.optim.Adam: g ← g + λ·p; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
# p ← p − lr·(m / (1 − β1^t)) / (√(v / (1 − β2^t)) + eps).   AdamW: p ← p·(1 − lr·λ) first.


def _torch_sgd(p, grads, lrs, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, b = p.copy(), None
    for lr, g in zip(lrs, grads):
        g = g + weight_decay * p
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def _torch_adam(p, grads, lrs, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    for t, (lr, g) in enumerate(zip(lrs, grads), start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


def _run_steps(opt, param, grads, lrs):
    for lr, g in zip(lrs, grads):
        opt.lr = lr
        param.grad = Tensor(g)
        opt.step()
    return param.data


def _trajectory_case(seed=3, steps=7):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal((2, 3))
    grads = [rng.standard_normal((2, 3)) for _ in range(steps)]
    lrs = [0.1, 0.1, 0.1, 0.05, 0.05, 0.02, 0.02][:steps]   # a step schedule
    return p0, grads, lrs


@pytest.mark.parametrize("kwargs", [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "dampening": 0.3},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05},
    {"momentum": 0.7, "dampening": 0.5, "weight_decay": 0.1},
])
def test_sgd_follows_pytorchs_formulas_over_several_steps(kwargs):
    p0, grads, lrs = _trajectory_case()
    param = Parameter(p0.copy())
    got = _run_steps(SGD([param], 0.1, **kwargs), param, grads, lrs)
    np.testing.assert_allclose(got, _torch_sgd(p0, grads, lrs, **kwargs), rtol=1e-12, atol=1e-14)


def test_sgd_momentum_and_the_books_momentum_agree_at_constant_lr_only():
    """The book's v carries the lr of the steps it was made from; PyTorch's buffer does not."""
    p0, grads, lrs = _trajectory_case()
    runs = {}
    for name, schedule in (("constant", [0.1] * len(lrs)), ("schedule", lrs)):
        a, b = Parameter(p0.copy()), Parameter(p0.copy())
        runs[name] = (_run_steps(SGD([a], 0.1, momentum=0.9), a, grads, schedule),
                      _run_steps(Momentum([b], 0.1, momentum=0.9), b, grads, schedule))
    np.testing.assert_allclose(*runs["constant"], rtol=1e-12)
    assert not np.allclose(*runs["schedule"], rtol=1e-6)


def test_sgd_nesterov_differs_from_the_books_nesterov_from_the_first_step():
    param, book = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
    torch_like = SGD([param], lr=0.1, momentum=0.9, nesterov=True)
    books = Nesterov([book], lr=0.1, momentum=0.9)
    param.grad = book.grad = Tensor(np.array([2.0]))
    torch_like.step()
    books.step()
    np.testing.assert_allclose(param.data, [1.0 - 1.9 * 0.1 * 2.0])          # (1 + m)·lr·g
    np.testing.assert_allclose(book.data, [1.0 - 2.71 * 0.1 * 2.0])          # (1 + m + m²)·lr·g


@pytest.mark.parametrize("kwargs, match", [
    ({"nesterov": True}, "nesterov=True needs momentum > 0"),
    ({"momentum": 0.9, "dampening": 0.1, "nesterov": True}, "dampening = 0"),
    ({"momentum": 0.9, "dampening": 1.5}, "SGD: dampening"),
    ({"momentum": 1.0}, "SGD: momentum must be in"),
])
def test_sgd_rejects_what_pytorch_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([Parameter(np.zeros(2))], lr=0.1, **kwargs)


def test_sgd_momentum_buffer_survives_save_and_restore():
    p0, grads, lrs = _trajectory_case()
    a, b = Parameter(p0.copy()), Parameter(p0.copy())
    opt_a = SGD([a], 0.1, momentum=0.9, nesterov=True)
    expected = _run_steps(opt_a, a, grads, lrs)
    opt_b = SGD([b], 0.1, momentum=0.9, nesterov=True)
    _run_steps(opt_b, b, grads[:3], lrs[:3])
    buffer = io.BytesIO()
    np.savez(buffer, **opt_b.state_dict())
    buffer.seek(0)
    resumed = SGD([b], 0.1)
    resumed.load_state_dict(np.load(buffer))
    assert resumed.nesterov is True and resumed.momentum == 0.9
    np.testing.assert_array_equal(_run_steps(resumed, b, grads[3:], lrs[3:]), expected)


@pytest.mark.parametrize("cls, kwargs, decoupled", [
    (Adam, {"betas": (0.8, 0.99)}, False),
    (Adam, {"betas": (0.9, 0.999), "weight_decay": 0.1}, False),
    (Adam, {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.05, "eps": 1e-6}, False),
    (AdamW, {"betas": (0.85, 0.98)}, True),
    (AdamW, {"betas": (0.85, 0.98), "weight_decay": 0.2}, True),
])
def test_adam_follows_pytorchs_formulas_over_several_steps(cls, kwargs, decoupled):
    p0, grads, lrs = _trajectory_case()
    param = Parameter(p0.copy())
    opt = cls([param], lr=0.1, **kwargs)
    got = _run_steps(opt, param, grads, lrs)
    betas = kwargs.get("betas", (kwargs.get("beta1", 0.9), kwargs.get("beta2", 0.999)))
    assert opt.betas == betas and (opt.beta1, opt.beta2) == betas
    expected = _torch_adam(p0, grads, lrs, betas=betas, eps=kwargs.get("eps", 1e-8),
                           weight_decay=kwargs.get("weight_decay", opt.weight_decay),
                           decoupled=decoupled)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs, match", [
    ({"betas": (0.9,)}, "betas must be a pair"),
    ({"betas": 0.9}, "betas must be a pair"),
    ({"betas": (0.9, 1.0)}, "Adam: beta2 must be in"),
    ({"betas": (0.8, 0.99), "beta1": 0.7}, "not both"),
])
def test_adam_betas_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Adam([Parameter(np.zeros(2))], **kwargs)


@pytest.mark.parametrize("kwargs", [
    {"momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    {"momentum": 0.7, "dampening": 0.3},
], ids=["nesterov", "dampening"])
def test_sgd_with_momentum_passes_the_conformance_suite(kwargs):
    """The suite's 12-step trajectory against _sgd_step, PyTorch's SGD written in numpy."""
    comp = Component("sgd_momentum", SGD, kind="optimizer",
                     check=OptimizerCheck(kwargs=kwargs, step=standard._sgd_step))
    check_component(comp)
