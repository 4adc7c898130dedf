"""Conformance checks of optimizers.

These generalise the property checks first written for the standard optimizers in
tests/test_optimizers.py: they use only the Optimizer contract and the OptimizerCheck.
"""
from __future__ import annotations

import inspect
import io

import numpy as np
from hypothesis import strategies as st

from tinygrad_edu.components import Component, OptimizerCheck
from tinygrad_edu.tensor import Parameter, Tensor
from tinygrad_edu.testing.conformance.common import (Recorder, describe_array, exception_line,
                                                     fail)
from tinygrad_edu.testing.strategies import seeded_arrays, shapes

# the learning rate of the optimizer checks that do not draw one (unless OptimizerCheck.kwargs
# has "lr"), and the number of steps on the quadratic
_CHECK_LR = 0.01
_QUADRATIC_STEPS = 50


def properties(comp: Component) -> list:
    """The (check name, property) pairs of an optimizer."""
    check = comp.check or OptimizerCheck()
    return [("zero gradient", _optimizer_zero_gradient(comp, check)),
            ("first step", _optimizer_first_step(comp, check)),
            ("learning rate", _optimizer_lr_change(comp, check)),
            ("decreases a quadratic", _optimizer_quadratic(comp, check)),
            ("trajectory", _optimizer_trajectory(comp, check)),
            ("state_dict round trip", _optimizer_state_dict(comp, check)),
            ("float32", _optimizer_float32(comp, check))]


def _declared_first_step(check: OptimizerCheck):
    """``first_step(p, g, lr=..., **kwargs)``: the declared one, or the first ``step``."""
    if check.first_step is not None or check.step is None:
        return check.first_step
    return lambda p, g, **hyper: check.step(p, g, {}, **hyper)[0]


# the trajectory: its length, the step whose gradient is zero, the step at which the last
# parameter has no gradient (grad None: skipped), the step before which opt.lr changes
TRAJECTORY_STEPS = 12
_ZERO_GRADIENT_STEP = 3
_NO_GRADIENT_STEP = 5
_LR_CHANGE_STEP = 7


def _optimizer_trajectory(comp: Component, check: OptimizerCheck):
    """Twelve steps with changing gradients (one of them zero, one without a gradient for the
    last parameter, opt.lr changed before another; weight decay as declared or 0) equal
    ``OptimizerCheck.step`` applied as often; so does a copy of the optimizer restored from
    its ``state_dict()`` (through numpy.savez) mid-way."""
    def prop(data: Recorder):
        if check.step is None:
            return
        lr, kwargs = _hyper(comp, check)
        if kwargs.get("weight_decay") and data.draw(st.booleans(), label="weight_decay=0"):
            kwargs["weight_decay"] = 0.0
        arrays = _param_arrays(data)
        seed = data.draw(st.integers(0, 2**32 - 1), label="gradient seed")
        new_lr = data.draw(st.floats(1e-3, 0.5).filter(lambda v: abs(v - lr) > 1e-4),
                           label="new lr")
        stop = data.draw(st.integers(2, TRAJECTORY_STEPS - 2), label="save after step")
        rng = np.random.default_rng(seed)
        sequence = [[rng.uniform(0.1, 3.0, np.shape(a)) * rng.choice([-1.0, 1.0], np.shape(a))
                     for a in arrays] for _ in range(TRAJECTORY_STEPS)]
        sequence[_ZERO_GRADIENT_STEP] = [np.zeros(np.shape(a)) for a in arrays]
        sequence[_NO_GRADIENT_STEP][-1] = None
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}")
        data.note(f"parameter shapes {[np.shape(a) for a in arrays]}; {TRAJECTORY_STEPS} steps, "
                  f"gradients from default_rng({seed}) (|g| in [0.1, 3]), zero at step "
                  f"{_ZERO_GRADIENT_STEP + 1}, none for the last parameter at step "
                  f"{_NO_GRADIENT_STEP + 1}; opt.lr = {new_lr!r} from step "
                  f"{_LR_CHANGE_STEP + 1}; state_dict() saved after step {stop}, loaded into a "
                  f"fresh optimizer (through numpy.savez) that continues alongside")
        for i, a in enumerate(arrays):
            data.note(describe_array(f"p{i}", a))
        params, opt = _make_optimizer(comp, arrays, lr, kwargs, data)
        runs = [("step()", params, opt)]
        expected = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
        states = [{} for _ in arrays]
        current_lr = lr
        for k, grads in enumerate(sequence):
            if k == _LR_CHANGE_STEP:
                current_lr = new_lr
                for _, _, o in runs:
                    o.lr = new_lr
            for _, ps, o in runs:
                _step(o, ps, grads)
            for i, g in enumerate(grads):
                if g is None:
                    continue
                new, states[i] = check.step(expected[i].copy(), g.copy(), states[i],
                                            lr=current_lr, **kwargs)
                expected[i] = np.asarray(new, dtype=np.float64)
            for where, ps, _ in runs:
                _compare_to_formula(comp, data, where, k, current_lr, ps, expected)
            if k + 1 == stop:
                runs.append(_restored(comp, data, opt, params, lr, kwargs))
    return prop


def _restored(comp, data, opt, params, lr, kwargs):
    """A fresh optimizer (built with another lr) over copies of ``params``, loaded with
    ``opt.state_dict()`` written and read with numpy.savez / numpy.load."""
    try:
        buffer = io.BytesIO()
        np.savez(buffer, **opt.state_dict())
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as loaded:
            state = {key: loaded[key] for key in loaded.files}
    except Exception as error:
        fail(comp, "trajectory", data, f"state_dict() cannot be written with numpy.savez and "
                                       f"read back: {exception_line(error)}", error)
    copies, fresh = _make_optimizer(comp, [p.data for p in params], 3 * lr + 0.5, kwargs, data)
    fresh.load_state_dict(state)
    return ("the optimizer restored from state_dict()", copies, fresh)


def _compare_to_formula(comp, data, where, k, lr, params, expected) -> None:
    for i, (p, e) in enumerate(zip(params, expected)):
        if e.shape != p.data.shape:
            fail(comp, "trajectory", data, f"OptimizerCheck.step returned shape {e.shape} for "
                                           f"parameter {i} of shape {p.data.shape}")
        if not np.allclose(p.data, e, rtol=1e-6, atol=1e-9):
            worst = np.unravel_index(np.argmax(np.abs(p.data - e)), e.shape)
            fail(comp, "trajectory", data,
                 f"after step {k + 1} (lr {lr!r}{', zero gradient' if k == _ZERO_GRADIENT_STEP else ''}) "
                 f"{where} gave parameter {i} = {p.data[worst]:.10g} at index "
                 f"{tuple(int(j) for j in worst)}, the declared formula OptimizerCheck.step "
                 f"gives {e[worst]:.10g}.\n(Is every per-parameter state - moments, step "
                 f"count - updated at every step and saved in state_dict()? Is lr read at "
                 f"every step?)")


def _accepts(cls, name: str) -> bool:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _hyper(comp: Component, check: OptimizerCheck, no_decay: bool = False) -> tuple[float, dict]:
    """(lr, other constructor kwargs): the declared ones, with weight_decay=0 if asked."""
    kwargs = dict(check.kwargs)
    lr = kwargs.pop("lr", _CHECK_LR)
    if no_decay and _accepts(comp.obj, "weight_decay"):
        kwargs["weight_decay"] = 0.0
    return lr, kwargs


def _param_arrays(data: Recorder, count_max: int = 3, low=-3.0, high=3.0):
    shape_list = data.draw(st.lists(shapes(min_dims=0, max_dims=3, max_side=4),
                                    min_size=1, max_size=count_max), label="parameter shapes")
    return [data.draw(seeded_arrays(s, low=low, high=high), label=f"p{i}")
            for i, s in enumerate(shape_list)]


def _gradient_sequence(data: Recorder, arrays, min_steps: int, max_steps: int):
    """Gradients for several steps, drawn from a seed (|g| kept away from 0)."""
    steps = data.draw(st.integers(min_steps, max_steps), label="steps")
    seed = data.draw(st.integers(0, 2**32 - 1), label="gradient seed")
    rng = np.random.default_rng(seed)
    sequence = [[rng.uniform(0.1, 3.0, np.shape(a)) * rng.choice([-1.0, 1.0], np.shape(a))
                 for a in arrays] for _ in range(steps)]
    data.note(f"parameter shapes {[np.shape(a) for a in arrays]}; {steps} steps with gradients "
              f"drawn from default_rng({seed}) (|g| in [0.1, 3])")
    return sequence


def _no_subnormals(array):
    return np.where(np.abs(array) < np.finfo(np.float64).tiny, 0.0, array)


def _optimizer_text(comp, lr, kwargs) -> str:
    extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return f"{getattr(comp.obj, '__name__', comp.name)}(params, lr={lr!r}{extra})"


def _make_optimizer(comp, arrays, lr, kwargs, data, dtype=None):
    """Fresh Parameters holding copies of ``arrays`` and an optimizer over them."""
    params = [Parameter(np.array(a, dtype=dtype, copy=True)) for a in arrays]
    try:
        return params, comp.obj(params, lr=lr, **kwargs)
    except Exception as error:
        fail(comp, "construction", data,
              f"{_optimizer_text(comp, lr, kwargs)} raised {exception_line(error)}", error)


def _step(optimizer, params, grads) -> None:
    for param, g in zip(params, grads):
        param.grad = None if g is None else Tensor(np.array(g, copy=True))
    optimizer.step()


def _optimizer_zero_gradient(comp: Component, check: OptimizerCheck):
    """A zero gradient (weight_decay=0) leaves the parameters exactly where they are, and a
    parameter whose grad is None is not touched."""
    def prop(data: Recorder):
        lr, kwargs = _hyper(comp, check, no_decay=True)
        arrays = _param_arrays(data)
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}")
        params, opt = _make_optimizer(comp, arrays + [np.ones(3)], lr, kwargs, data)
        for _ in range(3):
            _step(opt, params, [np.zeros_like(a) for a in arrays] + [None])
        for i, (p, a) in enumerate(zip(params, arrays)):
            if not np.array_equal(p.data, a):
                fail(comp, "zero gradient", data,
                      f"with a zero gradient (weight_decay=0) three steps moved parameter {i} "
                      f"(shape {np.shape(a)}) by up to {np.max(np.abs(p.data - a)):.3g}; a zero "
                      f"gradient must leave the parameters where they are")
        if not np.array_equal(params[-1].data, np.ones(3)):
            fail(comp, "zero gradient", data,
                  "a parameter whose grad is None was changed by step(); parameters without a "
                  "gradient must be skipped")
    return prop


def _optimizer_first_step(comp: Component, check: OptimizerCheck):
    """One step from a fresh state equals ``first_step`` (with the declared weight decay and
    without it). The optimizer is built with another lr and ``opt.lr`` set afterwards, since a
    learning-rate schedule only sets the attribute. The update is in place and leaves the
    gradients alone."""
    def prop(data: Recorder):
        _, kwargs = _hyper(comp, check)
        if "weight_decay" in kwargs and data.draw(st.booleans(), label="weight_decay=0"):
            kwargs["weight_decay"] = 0.0
        lr = data.draw(st.floats(1e-4, 1.0), label="lr")
        arrays = _param_arrays(data)
        # no subnormal gradients: (1 - beta) * g would underflow to 0 in one formula and not
        # in the other, a difference of rounding rather than of the update rule
        grads = [_no_subnormals(data.draw(seeded_arrays(np.shape(a)), label=f"g{i}"))
                 for i, a in enumerate(arrays)]
        built_lr = 2.5 * lr + 0.125
        data.note(f"optimizer: {_optimizer_text(comp, built_lr, kwargs)}, then opt.lr = {lr!r}")
        for i, (a, g) in enumerate(zip(arrays, grads)):
            data.note(describe_array(f"p{i}", a))
            data.note(describe_array(f"g{i}", g))
        params, opt = _make_optimizer(comp, arrays, built_lr, kwargs, data)
        opt.lr = lr
        storage = [p.data for p in params]
        _step(opt, params, grads)
        for i, (p, a, g) in enumerate(zip(params, arrays, grads)):
            if p.data is not storage[i]:
                fail(comp, "in-place update", data,
                      f"step() replaced parameter {i}'s array instead of updating it in place; "
                      f"write p.data -= ... (or p.data[...] = ...) so that arrays shared with "
                      f"the model (the book API's params dict) see the update")
            if not np.array_equal(p.grad.data, g):
                fail(comp, "gradient untouched", data,
                      f"step() changed parameter {i}'s gradient in place; compute on a copy "
                      f"(the same gradient array may be shared)")
            first_step = _declared_first_step(check)
            if first_step is None:
                continue
            expected = np.asarray(first_step(np.array(a, copy=True), np.array(g, copy=True),
                                             lr=lr, **kwargs))
            if expected.shape != np.shape(a):
                fail(comp, "first step", data, f"OptimizerCheck.first_step returned shape "
                                                f"{expected.shape} for a parameter of shape "
                                                f"{np.shape(a)}")
            if not np.allclose(p.data, expected, rtol=1e-6, atol=1e-9):
                worst = tuple(int(j) for j in np.unravel_index(
                    np.argmax(np.abs(p.data - expected)), np.shape(a)))
                fail(comp, "first step", data,
                      f"one step from a fresh state does not match the declared formula "
                      f"OptimizerCheck.first_step for parameter {i}: at index {worst} step() "
                      f"gave {p.data[worst]:.10g}, first_step gives {expected[worst]:.10g}.\n"
                      f"(Is lr read from self.lr at every step? Is the state initialised as "
                      f"documented?)")
    return prop


def _optimizer_lr_change(comp: Component, check: OptimizerCheck):
    """Two identical runs, then one sets ``opt.lr`` to another value: its next step differs."""
    def prop(data: Recorder):
        lr, kwargs = _hyper(comp, check)
        arrays = _param_arrays(data)
        sequence = _gradient_sequence(data, arrays, 1, 4)
        new_lr = data.draw(st.floats(0.05, 1.0).filter(lambda v: abs(v - lr) > 1e-3),
                           label="new lr")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}; before the last step "
                  f"one of two identical runs sets opt.lr = {new_lr!r}")
        params_a, a = _make_optimizer(comp, arrays, lr, kwargs, data)
        params_b, b = _make_optimizer(comp, arrays, lr, kwargs, data)
        for grads in sequence[:-1]:
            _step(a, params_a, grads)
            _step(b, params_b, grads)
        b.lr = new_lr
        _step(a, params_a, sequence[-1])
        _step(b, params_b, sequence[-1])
        if all(np.array_equal(p.data, q.data) for p, q in zip(params_a, params_b)):
            fail(comp, "learning rate", data,
                  f"setting opt.lr from {lr} to {new_lr} changed nothing in the next step; "
                  f"read self.lr in update_one (learning-rate schedules only set the attribute)")
    return prop


def _optimizer_quadratic(comp: Component, check: OptimizerCheck):
    """f(p) = 1/2 sum a (p - c)**2 with a > 0 (convex) is lower after 50 steps."""
    def prop(data: Recorder):
        lr, kwargs = _hyper(comp, check, no_decay=True)
        shape = data.draw(shapes(min_dims=1, max_dims=2, max_side=4), label="shape")
        a = data.draw(seeded_arrays(shape, low=0.5, high=2.0), label="curvature a")
        c = data.draw(seeded_arrays(shape, low=-1.0, high=1.0), label="minimum c")
        offset = data.draw(seeded_arrays(shape, low=-3.0, high=3.0, avoid=(0.0,), margin=0.5),
                           label="start p - c")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}")
        data.note("f(p) = 1/2 sum a (p - c)**2, gradient a (p - c)")
        for name, value in (("a", a), ("c", c), ("p (start)", c + offset)):
            data.note(describe_array(name, value))
        (p,), opt = _make_optimizer(comp, [c + offset], lr, kwargs, data)

        def f(v):
            return 0.5 * float(np.sum(a * (v - c) ** 2))

        start = f(p.data)
        values = []
        for _ in range(_QUADRATIC_STEPS):
            _step(opt, [p], [a * (p.data - c)])
            values.append(f(p.data))
        if not (np.isfinite(values[-1]) and values[-1] < start):
            shown = ", ".join(f"{v:.4g}" for v in values[:5])
            fail(comp, "decreases a quadratic", data,
                  f"after {_QUADRATIC_STEPS} steps f = {values[-1]:.6g}, not below the start "
                  f"f = {start:.6g} (f after the first steps: {shown}, ...); the optimizer "
                  f"does not descend")
    return prop


def _optimizer_state_dict(comp: Component, check: OptimizerCheck):
    """k steps, save, load into a fresh optimizer (built with another lr: loading restores
    it) over copies of the parameters, continue: equal to an uninterrupted run, also through
    ``numpy.savez``; loading a state saved for other shapes raises ValueError."""
    def prop(data: Recorder):
        lr, kwargs = _hyper(comp, check)
        arrays = _param_arrays(data)
        sequence = _gradient_sequence(data, arrays, 2, 7)
        stop = data.draw(st.integers(1, len(sequence) - 1), label="save after step")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}; save after step {stop}, "
                  f"load into a fresh optimizer (built with lr={3 * lr + 0.5}), continue")
        params_a, uninterrupted = _make_optimizer(comp, arrays, lr, kwargs, data)
        params_b, saved = _make_optimizer(comp, arrays, lr, kwargs, data)
        for grads in sequence:
            _step(uninterrupted, params_a, grads)
        for grads in sequence[:stop]:
            _step(saved, params_b, grads)
        state = saved.state_dict()
        try:
            buffer = io.BytesIO()
            np.savez(buffer, **state)
            buffer.seek(0)
            with np.load(buffer, allow_pickle=False) as loaded:
                from_disk = {key: loaded[key] for key in loaded.files}
        except Exception as error:
            fail(comp, "state_dict round trip", data,
                  f"state_dict() cannot be written with numpy.savez and read back with "
                  f"numpy.load(allow_pickle=False): {exception_line(error)}\nKeep it flat: "
                  f"str -> number | str | ndarray", error)
        restored = []
        for source in (state, from_disk):
            params_c, opt = _make_optimizer(comp, [p.data for p in params_b], 3 * lr + 0.5,
                                            kwargs, data)
            opt.load_state_dict(source)
            restored.append((params_c, opt))
        for grads in sequence[stop:]:
            for params, opt in restored:
                _step(opt, params, grads)
        for where, (params, _) in zip(("state_dict()", "state_dict() through numpy.savez"),
                                      restored):
            for i, (p, q) in enumerate(zip(params, params_a)):
                if not np.array_equal(p.data, q.data):
                    fail(comp, "state_dict round trip", data,
                          f"after loading {where} into a fresh optimizer and continuing, "
                          f"parameter {i} differs from an uninterrupted run by up to "
                          f"{np.max(np.abs(p.data - q.data)):.3g}; state_dict() must capture "
                          f"everything step() depends on (keep per-parameter state in the "
                          f"`state` dict update_one receives, and hyper-parameters, lr "
                          f"included, in hyper_names)")
        bigger = [np.zeros(np.shape(a) + (2,)) for a in arrays]
        _, other = _make_optimizer(comp, bigger, lr, kwargs, data)
        try:
            other.load_state_dict(state)
        except ValueError:
            pass
        else:
            fail(comp, "state_dict round trip", data,
                  "load_state_dict() accepted a state saved for parameters of other shapes; "
                  "it must raise ValueError")
    return prop


def _optimizer_float32(comp: Component, check: OptimizerCheck):
    """float32 parameters stay float32 (float64 gradients too), in the same array, with
    float32 state arrays."""
    def prop(data: Recorder):
        lr, kwargs = _hyper(comp, check)
        arrays = _param_arrays(data)
        sequence = _gradient_sequence(data, arrays, 1, 3)
        grad_dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="gradient dtype")
        data.note(f"optimizer: {_optimizer_text(comp, lr, kwargs)}; float32 parameters, "
                  f"{np.dtype(grad_dtype).name} gradients")
        params, opt = _make_optimizer(comp, arrays, lr, kwargs, data, dtype=np.float32)
        storage = [p.data for p in params]
        for grads in sequence:
            _step(opt, params, [g.astype(grad_dtype) for g in grads])
        for i, (p, original) in enumerate(zip(params, storage)):
            if p.data is not original:
                fail(comp, "in-place update", data,
                      f"parameter {i} got a new array instead of an in-place update")
            if p.data.dtype != np.float32 or not np.all(np.isfinite(p.data)):
                fail(comp, "dtype", data, f"a float32 parameter became {p.data.dtype} (or "
                                           f"non-finite); keep the parameter's dtype")
        for i, state in enumerate(getattr(opt, "state", None) or []):
            for key, value in (state.items() if isinstance(state, dict) else ()):
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" \
                        and value.dtype != np.float32:
                    fail(comp, "dtype", data, f"state {key!r} of parameter {i} is "
                                               f"{value.dtype}, not float32 like its parameter")
    return prop
