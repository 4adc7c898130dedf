"""Ready-made models: shapes, seeding, float32 everywhere, weight decay, dropout, batch norm."""
import numpy as np
import pytest

from tinygrad_edu import Tensor, no_grad
from tinygrad_edu.graphviz import graph_nodes
from tinygrad_edu.models import MultiLayerNet, SimpleConvNet, get_model, model_names
from tinygrad_edu.train import Trainer, evaluate


def images(n=4, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


def test_simple_convnet_layers_shapes_and_output():
    net = SimpleConvNet(seed=0)
    shapes = {name: p.data.shape for name, p in net.named_parameters()}
    assert shapes == {"conv1.W": (30, 1, 5, 5), "conv1.b": (30,), "affine1.W": (30 * 12 * 12, 100),
                      "affine1.b": (100,), "affine2.W": (100, 10), "affine2.b": (10,)}
    y = net(Tensor(images()))
    assert y.shape == (4, 10) and y.dtype == np.float32
    np.testing.assert_allclose(net(images().reshape(4, 784)).data, y.data, rtol=1e-6)   # flat rows too
    assert abs(float(net.conv1.W.data.std()) - 0.01) < 0.002          # the book's std 0.01
    small = SimpleConvNet(input_dim=(3, 10, 10), conv_param={"filter_num": 4, "filter_size": 3, "pad": 1},
                          hidden_size=7, output_size=5, weight_init="he", seed=0)
    assert small(Tensor(np.zeros((2, 3, 10, 10), np.float32))).shape == (2, 5)
    assert small.affine1.W.shape == (4 * 5 * 5, 7)


def _book_order_scores_and_grads(net, x, t):
    """The book's order, conv -> ReLU -> pool, by hand with the model's own layers."""
    from tinygrad_edu import functional as F
    h = net.pool1(F.relu(net.conv1(Tensor(x))))
    loss = F.softmax_cross_entropy(net.affine2(F.relu(net.affine1(h))), t)
    net.zero_grad()
    loss.backward()
    return loss.data.copy(), {name: p.grad.data.copy() for name, p in net.named_parameters()}


@pytest.mark.parametrize("case", ["random", "ties and all-negative windows"])
def test_simple_convnet_pooling_before_relu_is_the_books_network(case):
    """SimpleConvNet computes ReLU after the pooling; the loss and every gradient are the very
    same numbers as the book's conv -> ReLU -> pool, also where windows tie, hold exact zeros
    or only negative values (there the gradient must go nowhere)."""
    from tinygrad_edu import functional as F
    net = SimpleConvNet(seed=0, weight_init="he")
    x, t = images(6, seed=1), np.array([0, 1, 2, 3, 4, 5])
    if case != "random":
        net.conv1.W.data[:, :, 1:, :] = 0              # each filter sees one pixel ...
        net.conv1.W.data[:, :, 0, 1:] = 0
        x = images(6, seed=1)[:, :, ::2, ::2].repeat(2, axis=2).repeat(2, axis=3)   # ... of 2x2
        x[:, :, :, 12:] = 0                              # blocks: every window ties
        net.conv1.b.data[:] = np.linspace(-1.5, 0.5, 30)  # negative, zero and positive maxima
    expected_loss, expected = _book_order_scores_and_grads(net, x, t)
    loss = F.softmax_cross_entropy(net(Tensor(x)), t)
    net.zero_grad()
    loss.backward()
    assert loss.data == expected_loss
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p.grad.data, expected[name], err_msg=name)
    if case != "random":    # the crafted case really has ties and windows with no gradient
        conv = net.conv1(Tensor(x)).data
        windows = conv.reshape(6, 30, 12, 2, 12, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
        assert (np.sum(windows == windows.max(axis=1, keepdims=True), axis=1) > 1).mean() > 0.2
        assert (windows.max(axis=1) <= 0).mean() > 0.2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_simple_convnet_inference_in_chunks_gives_each_image_its_scores(dtype):
    """Under no_grad a batch larger than INFERENCE_CHUNK goes through in chunks (the last one
    shorter): the same scores as one pass (up to the matrix product's rounding, which may
    depend on the number of rows), and the same classes; with gradients on, one graph."""
    model = SimpleConvNet(seed=0, dtype=dtype, weight_init="he")
    chunk = model.INFERENCE_CHUNK
    x = np.random.default_rng(1).standard_normal((2 * chunk + 37, 1, 28, 28)).astype(dtype)
    with no_grad():
        chunked = model(x)
        model.INFERENCE_CHUNK = len(x)
        whole = model(x).data
    assert chunked.dtype == dtype and chunked.shape == (len(x), 10)
    assert not chunked.requires_grad
    np.testing.assert_allclose(chunked.data, whole, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-13)
    np.testing.assert_array_equal(chunked.data.argmax(axis=1), whole.argmax(axis=1))
    model.INFERENCE_CHUNK = chunk
    xt = Tensor(x[:chunk + 1], requires_grad=True)
    model(xt).sum().backward()              # training: one pass, gradients reach the input
    assert xt.grad is not None and xt.grad.shape == xt.shape


def test_simple_convnet_bad_geometry_is_a_clear_error():
    with pytest.raises(ValueError, match="even size"):
        SimpleConvNet(conv_param={"filter_size": 4})            # 25 x 25 feature map
    with pytest.raises(ValueError, match="unknown conv_param"):
        SimpleConvNet(conv_param={"filters": 3})


def test_seed_gives_the_same_weights():
    a, b, c = (SimpleConvNet(seed=s, weight_init="he") for s in (1, 1, 2))
    for (name, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert np.array_equal(p.data, q.data)
        if name.endswith("W"):
            assert not np.array_equal(p.data, r.data)


def assert_float32_training_step(model, x, t):
    """Every tensor of the graph of one step, every gradient and every parameter is float32."""
    from tinygrad_edu import functional as F
    loss = F.softmax_cross_entropy(model(Tensor(x)), t)
    reg = model.regularization()
    if reg is not None:
        loss = loss + reg
    nodes, _ = graph_nodes(loss)
    assert len(nodes) > 10
    wrong = [(t._ctx, t.dtype, t.shape) for t in nodes if t.dtype != np.float32]
    assert not wrong, wrong
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, name
    trainer = Trainer(model, optimizer="adam", lr=1e-3)
    trainer.fit(x, t, epochs=1, batch_size=len(x), progress=False)
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    assert all(np.asarray(v).dtype == np.float32 for v in model.state_dict().values())


def test_float32_throughout_a_step_simple_convnet():
    assert_float32_training_step(SimpleConvNet(seed=0), images(4), np.array([1, 2, 3, 4]))


def test_float32_throughout_a_step_mlp_with_everything():
    net = MultiLayerNet(784, [20, 20], 10, activation="sigmoid", weight_decay=0.1, dropout=0.3,
                        batch_norm=True, seed=0)
    assert_float32_training_step(net, images(6).reshape(6, 784), np.arange(6))


def test_multilayernet_structure_and_names():
    net = MultiLayerNet(8, [5, 4], 3, seed=0)
    assert [n for n, _ in net.named_parameters()] == ["hidden.0.W", "hidden.0.b", "hidden.1.W",
                                                      "hidden.1.b", "output.W", "output.b"]
    assert net(np.zeros((2, 8), np.float32)).shape == (2, 3)
    assert MultiLayerNet(8, 5, 3).hidden[0].W.shape == (8, 5)           # one int is one layer
    assert net.regularization() is None
    bn = MultiLayerNet(8, [5, 4], 3, batch_norm=True)
    assert {"batch_norms.0.running_mean", "batch_norms.1.gamma"} <= set(bn.state_dict())
    with pytest.raises(LookupError, match="rleu"):
        MultiLayerNet(8, [5], 3, activation="rleu")
    f64 = MultiLayerNet(8, [5], 3, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in f64.parameters())


def test_weight_decay_term_is_half_lambda_sum_of_squared_weights():
    net = MultiLayerNet(6, [5, 4], 3, weight_decay=0.1, seed=0)
    expected = 0.5 * 0.1 * sum(float((layer.W.data.astype(np.float64) ** 2).sum())
                               for layer in (*net.hidden, net.output))
    reg = net.regularization()
    assert reg.shape == () and reg.dtype == np.float32
    assert float(reg.data) == pytest.approx(expected, rel=1e-5)
    reg.backward()
    np.testing.assert_allclose(net.hidden[0].W.grad.data, 0.1 * net.hidden[0].W.data, rtol=1e-5)
    assert net.hidden[0].b.grad is None                                 # biases are not decayed
    conv = SimpleConvNet(weight_decay=0.5, seed=0)
    assert float(conv.regularization().data) == pytest.approx(
        0.25 * sum(float((w.data.astype(np.float64) ** 2).sum())
                   for w in (conv.conv1.W, conv.affine1.W, conv.affine2.W)), rel=1e-5)


def test_dropout_only_in_training_mode_and_activations_collected():
    net = MultiLayerNet(10, [50, 50], 2, dropout=0.5, seed=0)
    x = np.ones((3, 10), np.float32)
    assert not np.array_equal(net(x).data, net(x).data)     # a new mask every call
    net.eval()
    assert np.array_equal(net(x).data, net(x).data)
    acts = []
    with no_grad():
        net(x, activations=acts)
    assert [a.shape for a in acts] == [(3, 50), (3, 50)]
    assert all(float(a.data.min()) >= 0 for a in acts)      # after ReLU


def test_models_are_a_registered_kind():
    from tinygrad_edu import registry
    assert {"simple_convnet", "mlp"} <= set(model_names())
    comp = registry.get_component("model", "Simple-ConvNet")
    assert (comp.kind, comp.plugin) == ("model", "models")      # the standard plugin's entry point
    mlp = get_model("mlp", seed=0)
    assert mlp(np.zeros((2, 784), np.float32)).shape == (2, 10)
    assert mlp(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)   # images are flattened
    with pytest.raises(LookupError, match="Unknown model 'mpl'. Did you mean 'mlp'?.*simple_convnet"):
        get_model("mpl")


def test_mlp_learns_on_the_embedded_mnist_sample():
    from tinygrad_edu.data import load_mnist, preprocess
    data = load_mnist(source="sample")
    x, t = preprocess(data.x_train[:1000], data.t_train[:1000])
    xt, tt = preprocess(data.x_test[:500], data.t_test[:500])
    net = get_model("mlp", seed=0)
    before = evaluate(net, xt, tt)
    h = Trainer(net, optimizer="adam", lr=0.002).fit(x, t, xt, tt, epochs=3, batch_size=50, seed=0,
                                                      progress=False)
    assert h.test_acc[-1] > 0.8 > before.accuracy
    assert np.mean(h.loss[-10:]) < 0.5 * np.mean(h.loss[:5])
