"""Fault injection for the autodiff engine: every way a gradient could come out silently wrong
either gives the right answer or raises an error that names the op and what happened."""
import threading

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Function, Parameter, Tensor, no_grad, optim
from tinygrad_edu.anomaly import AnomalyError


# ---- in-place changes --------------------------------------------------------------------------


def test_optimizer_step_between_forward_and_backward_is_refused():
    w = Parameter(np.array([1.0, 2.0, 3.0]), name="w")
    loss = (w * w).sum()
    w.grad = Tensor(np.ones(3))
    optim.SGD([w], lr=0.1).step()          # changes w in place while the graph still holds it
    with pytest.raises(RuntimeError, match=r"Mul's input 0 'w' \(shape \(3,\)\) was changed in "
                                           r"place.*optimizer"):
        loss.backward()
    assert w.grad.data.tolist() == [1.0, 1.0, 1.0]   # refused before any gradient was added


def test_the_usual_training_loop_is_untouched_by_version_checks():
    w = Parameter(np.array([1.0, -2.0]))
    opt = optim.SGD([w], lr=0.25)
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()           # forward after the previous step: a fresh graph
        opt.step()
    np.testing.assert_allclose(w.data, np.array([1.0, -2.0]) * 0.5 ** 3)


def test_a_change_through_a_view_of_a_parameter_is_found_before_any_gradient_flows():
    w = Parameter(np.arange(6.0).reshape(2, 3))
    x = Tensor(np.ones((4, 2)), requires_grad=True)
    loss = (x @ w.T.T).sum()              # the graph saves views of w, not w itself
    w.bump_version()
    with pytest.raises(RuntimeError, match="Transpose's input 0 .* changed in place"):
        loss.backward()
    assert x.grad is None


def test_reusing_one_function_instance_is_refused_at_the_second_call():
    class Square(Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * 2 * self.inputs[0]

    square = Square()
    a, b = Tensor(2.0, requires_grad=True), Tensor(5.0, requires_grad=True)
    ya = square(a)
    with pytest.raises(RuntimeError, match="Square: this Function instance was already called"):
        square(b)
    with no_grad(), pytest.raises(RuntimeError, match="already called"):
        square(b)                         # not recorded, but it would still clobber the node
    ya.backward()
    assert a.grad.item() == 4.0           # the first call's gradient is intact


def test_a_function_called_without_recording_may_not_be_recorded_later_either():
    square = tg.ops.Exp()
    with no_grad():
        square(Tensor(1.0))
    square(Tensor(1.0, requires_grad=True))   # the first call made no node: this one is the node


def test_tensor_shares_the_callers_array_and_numpy_edits_are_caught_by_detect_anomaly():
    array = np.array([1.0, 2.0, 3.0])
    x = Tensor(array, requires_grad=True)
    assert np.shares_memory(x.data, array)    # documented: like torch.from_numpy
    with tg.detect_anomaly():
        loss = (x * x).sum()
        array[0] = 100.0                      # behind the graph's back
        with pytest.raises(AnomalyError, match=r"(?s)Mul's input 0 \(shape \(3,\)\) was changed in "
                                               r"place.*test_engine_faults.py"):
            loss.backward()


def test_editing_an_ops_output_is_caught_by_detect_anomaly():
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    with tg.detect_anomaly():
        y = x.exp()
        y.data[0] = 0.0                       # Exp's backward uses its output
        with pytest.raises(AnomalyError, match="Exp's output .* changed in place"):
            y.sum().backward()


def test_rebinding_the_data_of_a_saved_tensor_is_caught_by_detect_anomaly():
    w = Parameter(np.array([1.0, 2.0]))
    with tg.detect_anomaly():
        loss = (w * w).sum()
        w.data = w.data - 0.5                 # a new array, not an in-place change
        with pytest.raises(AnomalyError, match=r"Mul's input 0 \(shape \(2,\)\) was changed"):
            loss.backward()


# ---- dtypes and the points where formulas give 0 * inf -------------------------------------


@pytest.mark.parametrize("int_dtype", [np.int32, np.int64, np.uint32, np.bool_])
@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**", "max", "where", "@"])
def test_a_float32_tensor_meeting_an_integer_tensor_stays_float32(op, int_dtype):
    f = Tensor(np.full((2, 2), 1.5, np.float32), requires_grad=True)
    i = Tensor(np.array([[1, 2], [3, 1]]).astype(int_dtype))
    apply = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b, "**": lambda a, b: a ** b, "max": tg.maximum,
             "where": lambda a, b: tg.where(np.eye(2, dtype=bool), a, b),
             "@": lambda a, b: a @ b}[op]
    for y in (apply(f, i), apply(i, f)):
        assert y.dtype == np.float32, (op, int_dtype, y.dtype)
    apply(f, i).sum().backward()
    assert f.grad.dtype == np.float32


def test_max_over_data_with_a_nan_sends_the_gradient_to_the_nan_as_pytorch():
    x = Tensor(np.array([1.0, np.nan, 3.0, np.nan]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.0, 0.5])   # shared like ties
    m = Tensor(np.array([[1.0, np.nan, 0.0], [3.0, 2.0, 1.0]]), requires_grad=True)
    m.max(axis=1).sum().backward()
    np.testing.assert_array_equal(m.grad.data, [[0, 1, 0], [1, 0, 0]])
    m.grad = None
    m.min(axis=1).sum().backward()
    np.testing.assert_array_equal(m.grad.data, [[0, 1, 0], [0, 0, 1]])


def test_powers_at_zero_have_the_true_gradients():
    x = Tensor(np.array([0.0, 2.0], np.float32), requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    a = Tensor(np.array([0.0, 0.0, 0.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([0.0, 1.0, 2.5, 3.0]), requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.0, 1.0, 0.0, 12.0])     # b * a**(b-1)
    np.testing.assert_allclose(b.grad.data, [0.0, 0.0, 0.0, 8 * np.log(2.0)])


# ---- grad mode is per thread -------------------------------------------------------------------


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def evaluate():
        with no_grad():
            inside.set()
            release.wait(timeout=10)
            seen["thread"] = (Tensor(1.0, requires_grad=True) * 2).requires_grad

    worker = threading.Thread(target=evaluate)
    worker.start()
    try:
        assert inside.wait(timeout=10)
        x = Tensor(np.ones(3), requires_grad=True)
        y = (x * 3).sum()                   # recorded here while the other thread is in no_grad
        assert y.requires_grad and tg.is_grad_enabled()
        y.backward()
        np.testing.assert_array_equal(x.grad.data, [3.0, 3.0, 3.0])
    finally:
        release.set()
        worker.join(timeout=10)
    assert seen["thread"] is False


def test_threads_training_and_evaluating_at_once_each_get_their_own_mode():
    errors = []

    @no_grad()
    def evaluate(x):
        return (x * x).sum()

    def train(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(200):
                w = Tensor(rng.standard_normal(4), requires_grad=True)
                assert not evaluate(w).requires_grad
                (w * w).sum().backward()         # backward itself turns recording off inside
                np.testing.assert_allclose(w.grad.data, 2 * w.data)
        except Exception as error:  # noqa: BLE001  (reported to the main thread)
            errors.append(error)

    threads = [threading.Thread(target=train, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[0]
    assert tg.is_grad_enabled()


def test_a_new_thread_starts_with_recording_on_even_if_its_parent_is_in_no_grad():
    seen = []
    with no_grad():
        t = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        t.start()
        t.join(timeout=10)
    assert seen == [True]


# ---- detect_anomaly ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_detect_anomaly_names_the_op_whose_backward_made_the_first_nan_and_where_it_was_made():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        y = x.sqrt()                                    # d sqrt(x)/dx = inf at 0
        loss = (y * 2).sum()
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert "Sqrt.backward produced inf" in message and "input 0" in message
    assert "test_engine_faults.py" in message and "y = x.sqrt()" in message


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_detect_anomaly_is_off_by_default_and_records_nothing():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    y = x.sqrt()
    assert not tg.is_anomaly_enabled()
    assert "anomaly_created_at" not in y._ctx.__dict__
    y.sum().backward()                                  # inf gradient, as numpy computes it
    assert np.isinf(x.grad.data[0])


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_detect_anomaly_works_as_a_decorator_and_restores_the_mode():
    @tg.detect_anomaly()
    def step(x):
        assert tg.is_anomaly_enabled()
        (x.log() * 1).sum().backward()

    with pytest.raises(AnomalyError, match="Log.backward produced inf"):
        step(Tensor(np.array([0.0, 1.0]), requires_grad=True))
    assert not tg.is_anomaly_enabled()


# ---- more things a learner (or an attacker) will try -------------------------------------------


def test_integer_tensors_cannot_require_grad_and_casts_to_int_leave_the_graph():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.arange(3)).sum().backward()
    x = Tensor(np.array([1.5, 2.5]), requires_grad=True)
    assert not x.astype(np.int64).requires_grad
    assert x.astype(np.float32).requires_grad


def test_backward_of_a_non_scalar_needs_its_gradient():
    y = Tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\), not a single number"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\)"):
        y.backward(np.ones(2))


def test_a_backward_that_returns_the_wrong_number_of_gradients_is_named():
    class Forgetful(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return gy                                   # one gradient for two inputs

    y = Forgetful()(Tensor(1.0, requires_grad=True), Tensor(2.0, requires_grad=True))
    with pytest.raises(RuntimeError, match=r"Forgetful.backward returned 1 gradient\(s\) for 2"):
        y.backward()


def test_a_huge_graph_backpropagates_and_is_freed_without_recursion():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    z = y
    del y
    z.backward()
    assert x.grad.item() == 1.0
    del z                                               # freeing a 100,000-deep chain


def test_backward_twice_without_retain_graph_is_refused():
    y = (Tensor(2.0, requires_grad=True) * 3)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


# ---- the README's examples of both ------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("marker, printed", [
    ("w.bump_version()", "backward: Mul's input 0 (shape (2,)) was changed in place"),
    ("tg.detect_anomaly()", "backward: Sqrt.backward produced inf"),
])
def test_the_readme_examples_of_in_place_changes_and_anomalies_print_what_they_say(
        marker, printed, capsys):
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)\n```", readme, flags=re.S) if marker in b]
    assert len(blocks) == 1
    exec(compile("import numpy as np\nimport tinygrad_edu as tg\nfrom tinygrad_edu import "
                 "Tensor\n" + blocks[0], "README.md", "exec"), {})
    assert printed in capsys.readouterr().out
