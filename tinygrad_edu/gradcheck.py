"""Gradient checking: does backward agree with the definition of the derivative?

For a function f and a random weighting v of its output, the scalar L(x) = sum(v * f(x)) has
gradient dL/dx = v^T J (a vector-Jacobian product), which is exactly what backward computes when
it is started from ``grad=v``. The numerical estimate comes from the central difference

    dL/dx_i  ~  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)          (error O(eps**2))

computed in float64. Both must agree element by element within ``atol + rtol * |numerical|``.
Two further properties are checked because a wrong backward often breaks them first: backward is
linear in the incoming gradient (started from 2v it returns twice as much), and it is
deterministic (two runs agree).
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.autograd import grad, no_grad
from tinygrad_edu.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck with a report a learner can act on."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, names=None,
              raise_exception=True, _numerical_with_graph=False):
    """Compare ``fn``'s backward with central differences; True when they agree.

    ``inputs`` are Tensors or arrays. Floating-point inputs that require grad (or plain float
    arrays) are checked; others are passed through as constants. Inputs are copied to float64,
    except float64 Tensors that require grad, which are used as they are (perturbed and
    restored): that is how parameters held inside a layer are checked. ``fn`` may return a
    Tensor or a tuple of Tensors. ``names`` labels the inputs in the report.
    """
    xs = [_as_float64_input(x) for x in inputs]
    names = list(names) if names is not None else [f"input {i}" for i in range(len(xs))]
    checked = [i for i, x in enumerate(xs) if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    rng = np.random.default_rng(seed)

    outputs = _as_tuple(fn(*xs))
    weights = [rng.standard_normal(y.shape) for y in outputs]
    analytic = _analytic(fn, xs, checked, weights)

    problems = []
    for k, i in enumerate(checked):
        numerical = _numerical(fn, xs, xs[i], weights, eps, _numerical_with_graph)
        problem = _compare(names[i], analytic[k], numerical, atol, rtol)
        if problem:
            problems.append(problem)
            break
    if not problems:
        doubled = _analytic(fn, xs, checked, [2 * w for w in weights])
        again = _analytic(fn, xs, checked, weights)
        for k, i in enumerate(checked):
            if not np.allclose(doubled[k], 2 * analytic[k], rtol=1e-6, atol=1e-12):
                problems.append(
                    f"backward is not linear in the incoming gradient for {names[i]}: starting "
                    f"from 2*grad did not give twice the gradient (max deviation "
                    f"{np.max(np.abs(doubled[k] - 2 * analytic[k])):.3g}). A backward must "
                    f"multiply by the incoming gradient, not ignore or add it.")
            elif not np.allclose(again[k], analytic[k], rtol=1e-10, atol=1e-14):
                problems.append(
                    f"backward is not deterministic for {names[i]}: two runs differ by up to "
                    f"{np.max(np.abs(again[k] - analytic[k])):.3g}.")
    if problems:
        if raise_exception:
            raise GradcheckError("\n".join(problems))
        return False
    return True


def gradgradcheck(fn, *inputs, eps=1e-6, atol=1e-4, rtol=1e-3, seed=0, names=None,
                  raise_exception=True):
    """Check second derivatives: gradcheck applied to the function that computes ``fn``'s
    gradient with ``create_graph=True`` (so the backward of the backward is what is tested)."""
    xs = [_as_float64_input(x) for x in inputs]
    checked = [i for i, x in enumerate(xs) if x.requires_grad]
    rng = np.random.default_rng(seed + 1)
    weights = [rng.standard_normal(y.shape) for y in _as_tuple(fn(*xs))]

    def first_derivatives(*args):
        outputs = _as_tuple(fn(*args))
        grads = grad(list(outputs), [args[i] for i in checked], grad_outputs=weights,
                     create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None and g.requires_grad)

    if not first_derivatives(*xs):
        raise ValueError("gradgradcheck: the first derivative does not depend on the inputs "
                         "(the function is linear), so there is no second derivative to check")
    names = list(names) if names is not None else [f"input {i}" for i in range(len(xs))]
    try:
        return gradcheck(first_derivatives, *xs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                         names=[f"{n} (second derivative)" for n in names],
                         raise_exception=True, _numerical_with_graph=True)
    except GradcheckError:
        if raise_exception:
            raise
        return False


# ---- the pieces ---------------------------------------------------------------------------------


def _as_float64_input(x):
    if isinstance(x, Tensor):
        if x.requires_grad and x.dtype == np.float64:
            return x
        if x.dtype.kind == "f":
            return Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad)
        return x
    array = np.asarray(x)
    if array.dtype.kind == "f":
        return Tensor(array.astype(np.float64), requires_grad=True)
    return Tensor(array)


def _as_tuple(outputs):
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


def _weighted_sum(outputs, weights) -> float:
    return float(sum(np.sum(y.data * w) for y, w in zip(outputs, weights)))


def _analytic(fn, xs, checked, weights):
    outputs = _as_tuple(fn(*xs))
    used = [(y, w) for y, w in zip(outputs, weights) if y.requires_grad]
    if not used:
        return [np.zeros(xs[i].shape) for i in checked]
    grads = grad([y for y, _ in used], [xs[i] for i in checked],
                 grad_outputs=[Tensor(w) for _, w in used], allow_unused=True)
    return [np.zeros(xs[i].shape) if g is None else np.array(g.data, dtype=np.float64)
            for i, g in zip(checked, grads)]


def _numerical(fn, xs, x, weights, eps, with_graph):
    flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
    result = np.zeros(flat.size)
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + eps
        plus = _evaluate(fn, xs, weights, with_graph)
        flat[j] = original - eps
        minus = _evaluate(fn, xs, weights, with_graph)
        flat[j] = original
        result[j] = (plus - minus) / (2 * eps)
    return result.reshape(x.shape)


def _evaluate(fn, xs, weights, with_graph):
    if with_graph:
        return _weighted_sum(_as_tuple(fn(*xs)), weights)
    with no_grad():
        return _weighted_sum(_as_tuple(fn(*xs)), weights)


def _compare(name, analytic, numerical, atol, rtol):
    if analytic.shape != numerical.shape:
        return (f"{name}: backward returned a gradient of shape {analytic.shape} for an input "
                f"of shape {numerical.shape}")
    error = np.abs(analytic - numerical)
    allowed = atol + rtol * np.abs(numerical)
    excess = error - allowed
    if not np.all(np.isfinite(analytic)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(analytic))[0])
        return (f"{name} (shape {analytic.shape}): backward produced a non-finite gradient "
                f"{analytic[bad]} at index {bad}")
    if np.all(excess <= 0):
        return None
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    worst = tuple(int(i) for i in worst)
    wrong = int(np.sum(excess > 0))
    return "\n".join([
        f"gradcheck failed for {name} (shape {analytic.shape}):",
        "  the gradient from backward does not match the numerical gradient",
        "  (central differences in float64).",
        f"  worst element: index {worst}",
        f"    analytic  (backward):         {analytic[worst]:.10g}",
        f"    numerical (finite difference): {numerical[worst]:.10g}",
        f"    |error| = {error[worst]:.3g} > atol + rtol*|numerical| = {allowed[worst]:.3g}",
        f"  {wrong} of {analytic.size} elements disagree.",
        "  If numerical is ~0 where analytic is not, a term is missing from backward;",
        "  a constant ratio between them points at a wrong factor; disagreement only near",
        "  kinks (relu at 0, ties of max) means the input sits on a non-differentiable point.",
    ])
