"""The optional numba plugin (plugins/tinygrad-edu-numba): its kernels compute exactly what the
standard relu and max pooling compute, and they are cached on disk. Skipped without numba."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed: the optional tinygrad-edu-numba "
                                    "plugin cannot be tested (pip install numba)")
nc = pytest.importorskip("tinygrad_edu_numba.components",
                         reason="the tinygrad-edu-numba plugin is not installed "
                                "(pip install -e ./plugins/tinygrad-edu-numba)")

from tinygrad_edu import registry  # noqa: E402
from tinygrad_edu.components import Component  # noqa: E402
from tinygrad_edu.tensor import Tensor  # noqa: E402
from tinygrad_edu.testing.differential import check_replacement  # noqa: E402
from tinygrad_edu_plugins import activations as standard_activations  # noqa: E402
from tinygrad_edu_plugins import layers as standard_layers  # noqa: E402

EXAMPLES = 15


def registered(hook):
    """The plugin's own Component records, as its hook returns them."""
    return {c.name: c for c in hook()}


def standard(kind, name):
    """The standard component (the plugin's replacement is not asked for)."""
    hook = {"activation": standard_activations.register_activations,
            "layer": standard_layers.register_layers}[kind]
    comp = registered(hook)[name]
    comp.kind, comp.plugin = kind, "standard"
    return comp


def replacement(kind, name):
    hook = {"activation": nc.register_activations, "layer": nc.register_layers}[kind]
    comp = registered(hook)[name]
    comp.kind, comp.plugin = kind, "tinygrad_edu_numba"
    return comp


def test_the_components_declare_what_they_replace():
    assert replacement("activation", "relu").replaces == "relu"
    pool = replacement("layer", "maxpool2d")
    assert pool.replaces == "maxpool2d" and "max_pool2d" in pool.aliases


@pytest.mark.parametrize("kind, name", [("activation", "relu"), ("layer", "maxpool2d")])
def test_the_replacement_agrees_with_the_standard(kind, name):
    report = check_replacement(replacement(kind, name), standard(kind, name),
                               max_examples=EXAMPLES)
    assert report.ok, report.describe()


def conv_like(shape=(4, 6, 8, 3), seed=0, dtype=np.float32):
    """An (N, C, H, W) array in a convolution's memory layout (channels last), with ties and
    zeros (values on a grid)."""
    rng = np.random.default_rng(seed)
    N, H, W, C = shape
    return (rng.integers(-3, 4, (N, H, W, C)) / 2).astype(dtype).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("kernel_size, stride, padding, H, W", [
    (2, 2, 0, 6, 8), (3, 2, 1, 7, 9), (3, 1, 0, 5, 6), (2, 3, 1, 6, 9)])
def test_relu_then_pooling_on_a_conv_layout_matches_the_standard(kernel_size, stride, padding,
                                                                  H, W):
    x = conv_like((4, H, W, 3))
    gy = None
    results = []
    for relu, pool in ((standard_activations.relu, standard_layers.MaxPool2d),
                       (nc.relu, nc.MaxPool2d)):
        xt = Tensor(x, requires_grad=True)
        y = pool(kernel_size, stride=stride, padding=padding)(relu(xt))
        gy = np.arange(y.data.size, dtype=x.dtype).reshape(y.shape) if gy is None else gy
        y.backward(Tensor(gy))
        results.append((y.data, xt.grad.data))
    (y_std, g_std), (y_new, g_new) = results
    np.testing.assert_array_equal(y_new, y_std)
    np.testing.assert_array_equal(g_new, g_std)
    # the gradient keeps the input's memory layout (what the next backward reads fastest)
    assert g_new.strides == g_std.strides or g_new.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (2, 1, 0), (3, 2, 1)])
@pytest.mark.parametrize("layout", ["channels-last", "C-ordered"])
def test_pooling_non_finite_windows_like_the_standard(kernel_size, stride, padding, layout):
    """NaN makes its window's maximum NaN and sends that window no gradient; +inf and -inf are
    ordinary values (a window of -inf has maximum -inf, and its first -inf gets the gradient).
    The 2x2 kernel and the general one, against the standard, in training and in no_grad."""
    from tinygrad_edu import no_grad
    x = conv_like((3, 6, 8, 4), seed=1, dtype=np.float64)
    if layout == "C-ordered":
        x = np.ascontiguousarray(x)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 2, 2:4] = np.inf
    x[1, 2, 0:2, 0:2] = -np.inf
    x[2, 3, 4, 5] = np.nan
    x[2, 3, 5, 4] = np.inf
    results = []
    for pool in (standard_layers.MaxPool2d, nc.MaxPool2d):
        xt = Tensor(x, requires_grad=True)
        y = pool(kernel_size, stride=stride, padding=padding)(xt)
        y.backward(Tensor(np.arange(1, y.data.size + 1, dtype=x.dtype).reshape(y.shape)))
        with no_grad():
            y_inference = pool(kernel_size, stride=stride, padding=padding)(Tensor(x)).data
        results.append((y.data, xt.grad.data, y_inference))
    (y_std, g_std, i_std), (y_new, g_new, i_new) = results
    assert np.isnan(y_std).any() and np.isposinf(y_std).any()
    np.testing.assert_array_equal(y_new, y_std)
    np.testing.assert_array_equal(g_new, g_std)
    np.testing.assert_array_equal(i_new, i_std)


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (3, 2, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_parallel_kernels_match_the_standard_on_a_conv_sized_batch(kernel_size, stride,
                                                                       padding, dtype,
                                                                       monkeypatch):
    """With TINYGRAD_EDU_NUMBA_PARALLEL on, arrays of PARALLEL_MIN_SIZE elements or more go to
    the multi-core kernels: SimpleConvNet's conv output shape, with ties, a NaN and
    infinities, relu after pooling, training and no_grad."""
    from tinygrad_edu import no_grad
    from tinygrad_edu_numba import kernels
    monkeypatch.setattr(kernels, "PARALLEL", True)
    x = conv_like((8, 24, 24, 30), seed=2, dtype=dtype)
    assert x.size >= kernels.PARALLEL_MIN_SIZE
    x[1, 2, 3, 4], x[5, 6, 7, 8], x[7, 29, 23, 23] = np.nan, np.inf, -np.inf
    results = []
    for relu, pool in ((standard_activations.relu, standard_layers.MaxPool2d),
                       (nc.relu, nc.MaxPool2d)):
        xt = Tensor(x, requires_grad=True)
        y = relu(pool(kernel_size, stride=stride, padding=padding)(xt))
        # small integers: where windows overlap, sums of them are exact in any order
        y.backward(Tensor((np.arange(y.data.size) % 7 - 3).astype(dtype).reshape(y.shape)))
        with no_grad():
            inference = relu(pool(kernel_size, stride=stride, padding=padding)(Tensor(x))).data
        results.append((y.data, xt.grad.data, inference))
    for standard_result, compiled_result in zip(*results):
        np.testing.assert_array_equal(compiled_result, standard_result)
    pooled = kernels.max_pool_2x2_forward if (kernel_size, padding) == (2, 0) \
        else kernels.max_pool_forward
    assert pooled[1].signatures, "the parallel pooling kernel did not run"


@pytest.mark.parametrize("layout", ["channels-last", "C-ordered"])
def test_the_parallel_relu_matches_the_standard(layout, monkeypatch):
    """ReLU on an array over PARALLEL_MIN_SIZE (the multi-core kernel, with
    TINYGRAD_EDU_NUMBA_PARALLEL on): values, exact zeros, -0.0, NaN and the gradient, also for
    an upstream gradient in another memory layout."""
    from tinygrad_edu_numba import kernels
    monkeypatch.setattr(kernels, "PARALLEL", True)
    x = conv_like((8, 24, 24, 30), seed=3)
    x = np.ascontiguousarray(x) if layout == "C-ordered" else x
    assert x.size >= kernels.PARALLEL_MIN_SIZE
    x[0, 0, 0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    gy = (np.arange(x.size) % 5 - 2).astype(x.dtype).reshape(x.shape)   # C-ordered
    results = []
    for relu in (standard_activations.relu, nc.relu):
        xt = Tensor(x, requires_grad=True)
        y = relu(xt)
        y.backward(Tensor(gy))
        results.append((y.data, xt.grad.data))
    (y_std, g_std), (y_new, g_new) = results
    np.testing.assert_array_equal(y_new, y_std)
    assert np.array_equal(np.signbit(y_new), np.signbit(y_std))
    np.testing.assert_array_equal(g_new, g_std)
    assert kernels.relu_forward[1].signatures and kernels.relu_backward[1].signatures, \
        "the parallel relu kernels did not run"


def test_the_serial_kernels_are_the_default_whatever_the_size(monkeypatch):
    from tinygrad_edu_numba import kernels
    pair = kernels.relu_forward
    monkeypatch.setattr(kernels, "PARALLEL", False)
    assert kernels.pick(pair, 10 ** 9) is pair[0]
    monkeypatch.setattr(kernels, "PARALLEL", True)
    assert kernels.pick(pair, 10 ** 9) is pair[1]
    assert kernels.pick(pair, kernels.PARALLEL_MIN_SIZE - 1) is pair[0]


def test_inputs_the_kernels_do_not_take_go_to_the_standard_code():
    x = np.arange(-8, 8, dtype=np.int64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nc.MaxPool2d(2)(Tensor(x)).data,
                                  standard_layers.MaxPool2d(2)(Tensor(x)).data)
    np.testing.assert_array_equal(nc.relu(Tensor(x)).data, np.maximum(x, 0))
    strided = np.linspace(-1, 1, 24).reshape(4, 6)[:, ::2]     # not contiguous in any order
    np.testing.assert_array_equal(nc.relu(strided).data, np.maximum(strided, 0))
    with pytest.raises(ValueError, match=r"MaxPool2d.*\(N, C, H, W\)"):
        nc.MaxPool2d(2)(Tensor(np.zeros((2, 4, 4))))


def test_gradients_of_gradients_go_through_the_adjoint_kernels():
    """d/d(gy) of <dx(gy), v> is the gather of v at the maxima, for both implementations."""
    x = conv_like((2, 5, 5, 2), dtype=np.float64)
    out = []
    for pool in (standard_layers.MaxPool2d(3, stride=2, padding=1), nc.MaxPool2d(3, stride=2,
                                                                                 padding=1)):
        xt = Tensor(x, requires_grad=True)
        y = pool(xt)
        gy = Tensor(np.ones(y.shape), requires_grad=True)
        y.backward(gy, create_graph=True)
        v = np.linspace(-1, 1, x.size).reshape(x.shape)
        (xt.grad * Tensor(v)).sum().backward()
        out.append(gy.grad.data)
    np.testing.assert_array_equal(out[1], out[0])


def test_compiled_kernels_are_cached_on_disk(tmp_path):
    """The first process compiles and writes the cache; a second one loads it (no compile)."""
    script = textwrap.dedent("""
        import numpy as np
        from tinygrad_edu_numba import kernels
        x = np.linspace(-1, 1, 1000, dtype=np.float32)
        kernels.relu_forward[0](x, np.empty_like(x))
        stats = kernels.relu_forward[0].stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=240) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    hits, misses = zip(*(map(int, run.stdout.split()) for run in runs))
    assert misses[0] >= 1 and hits[0] == 0, "the first run should compile"
    assert hits[1] >= 1 and misses[1] == 0, "the second run should load the cached kernel"
    assert any(tmp_path.rglob("*.nbc")), "no cache file was written"


def test_the_serial_and_the_parallel_kernel_are_cached_apart(tmp_path):
    """numba finds a disk-cache entry by the function's name and bytecode, not by parallel=True
    (numba issue #6845): with one name, whichever version compiled first was loaded for both,
    and the "parallel" kernels ran on one core. In a fresh cache, then from the cache, each
    version compiles (or loads) its own code, and the parallel one runs on several threads."""
    (tmp_path / "threads_module.py").write_text(textwrap.dedent("""
        import numba
        from numba import prange

        def _thread_ids(out):
            for i in prange(out.size):
                out[i] = numba.get_thread_id()
    """))
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from tinygrad_edu_numba import kernels
        import threads_module
        versions = dict(zip("sp", kernels._compile(threads_module._thread_ids)))
        threads = {}
        for which in sys.argv[1]:
            ids = np.full(10_000, -1)
            versions[which](ids)
            threads[which] = len(set(ids.tolist()))
        compiled = []
        x = np.linspace(-1, 1, 1000, dtype=np.float32)
        for kernel in kernels.relu_forward:
            kernel(x, np.empty_like(x))
            compiled.append(sum(kernel.stats.cache_misses.values()))
        print(threads["s"], threads["p"], *compiled)
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_NUM_THREADS": "2",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    # serial first: with a shared entry the parallel version would load the serial code; then
    # parallel first (numba.get_thread_id in serial code loaded from the cache, before any
    # parallel loop has started numba's threads, crashes numba 0.68: not our kernels' case)
    runs = [subprocess.run([sys.executable, "-c", script, order], env=env, capture_output=True,
                           text=True, timeout=240) for order in ("sp", "ps")]
    for run in runs:
        assert run.returncode == 0, run.stderr or (
            f"exit {run.returncode}: numba crashes running the serial code as the parallel one")
    first, again = (list(map(int, run.stdout.split())) for run in runs)
    assert first[:2] == [1, 2], "the parallel kernel ran on one thread"
    assert first[2:] == [1, 1], "the parallel relu loaded the serial one's cache entry"
    assert again == [1, 2, 0, 0], "the second process should load both versions from the cache"


def test_installed_it_takes_over_the_names_and_disabling_it_falls_back():
    from tinygrad_edu import nn, plugins
    import tinygrad_edu.functional as F

    if "tinygrad_edu_numba" not in {r.name for r in plugins.plugin_records()}:
        pytest.skip("the plugin's entry point is not installed in this environment")
    try:
        plugins.enable_plugin("tinygrad_edu_numba")
        assert nn.MaxPool2d is nc.MaxPool2d and F.relu is nc.relu
        assert registry.get_component("layer", "max_pool2d",
                                      implementation="standard").obj is standard_layers.MaxPool2d
        plugins.disable_plugin("tinygrad_edu_numba")
        assert nn.MaxPool2d is standard_layers.MaxPool2d
        assert F.relu is standard_activations.relu
    finally:
        plugins.enable_plugin("tinygrad_edu_numba")


def test_the_numba_replacements_pass_the_quick_check():
    """What the plugin manager runs before the compiled kernels take over relu and maxpool2d."""
    from tinygrad_edu import registry
    from tinygrad_edu.testing.differential import quick_check_replacement
    for kind, name in (("activation", "relu"), ("layer", "maxpool2d")):
        std = registry.get_component(kind, name, implementation="standard")
        report = quick_check_replacement(registry.get_component(kind, name,
                                                                implementation="tinygrad_edu_numba"), std)
        assert report.ok and report.examples >= 24, report.describe()
    assert registry.get_component("layer", "maxpool2d").plugin == "tinygrad_edu_numba"
