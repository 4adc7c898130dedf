"""The explain page's data, layout, files and command (the browser test is test_explain_browser.py)."""
import itertools
import json
import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Module, Parameter, Tensor, cli, nn, registry
from tinygrad_edu import module as module_hook
from tinygrad_edu.autograd import topological_order
from tinygrad_edu.explain import describe, record_modules
from tinygrad_edu.explain.data import FULL_LIMIT, summarize
from tinygrad_edu.explain.layout import GraphLayout, build_layout, layer_and_order, place
from tinygrad_edu.graphviz import graph_nodes
from tinygrad_edu.models import SimpleConvNet


def apple_graph():
    """The book's chapter 5: two apples at 100, three oranges at 150, tax 1.1."""
    leaves = {name: Tensor(value, requires_grad=True, name=name) for name, value in
              [("apple", 100.0), ("apple_num", 2.0), ("orange", 150.0), ("orange_num", 3.0),
               ("tax", 1.1)]}
    price = (leaves["apple"] * leaves["apple_num"] + leaves["orange"] * leaves["orange_num"]) \
        * leaves["tax"]
    price.name = "price"
    return price, leaves


def small_convnet_step(batch=4, seed=0):
    rng = np.random.default_rng(seed)
    model = SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 3, "filter_size": 3},
                          hidden_size=5, output_size=4, weight_init="he", seed=seed)
    x = Tensor(rng.standard_normal((batch, 1, 10, 10)).astype(np.float32), name="x")
    t = rng.integers(0, 4, batch)
    loss_fn = registry.get("loss", "softmax_cross_entropy")
    return model, x, t, loss_fn


# ---------------------------------------------------------------------------- what is recorded


def test_apple_example_values_gradients_and_steps_come_from_the_engine():
    price, leaves = apple_graph()
    expected_order = [t for t in topological_order([price]) if t._ctx is not None]
    tensors, _ = graph_nodes(price)
    data = describe(price, title="apples")
    # leaves: exactly what a plain backward gives (the book's figure 5-17 numbers)
    expected = {"apple": 2.2, "apple_num": 110.0, "orange": 3.3, "orange_num": 165.0, "tax": 650.0}
    for name, grad in expected.items():
        np.testing.assert_allclose(leaves[name].grad.data, grad, rtol=1e-12)
        node = next(n for n in data["nodes"] if n["name"] == name)
        assert node["grad"]["values"] == leaves[name].grad.item()
        assert node["kind"] == "input" and node["accumulated"] is False
    # the steps run in the engine's own order, one per operation
    assert [tensors[s["node"]] for s in data["steps"]] == expected_order
    first, add = data["steps"][0], data["steps"][1]
    assert data["nodes"][first["node"]]["name"] == "price" and first["upstream"]["values"] == 1.0
    sent = {data["nodes"][s["to"]]["name"] or data["nodes"][s["to"]]["op"]: s["grad"]["values"]
            for s in first["sends"]}
    assert sent == {"Add": pytest.approx(1.1), "tax": pytest.approx(650.0)}
    assert [s["grad"]["values"] for s in add["sends"]] == [pytest.approx(1.1)] * 2
    # local derivatives of a scalar Mul: d(a*b)/da = b
    apple_mul = next(s for s in data["steps"]
                     if {data["nodes"][x["to"]]["name"] for x in s["sends"]} == {"apple", "apple_num"})
    assert [d["values"] for d in apple_mul["local"]] == [2.0, 100.0]
    assert data["nodes"][apple_mul["node"]]["rule"] == "y = a * b;  dy/da = b, dy/db = a"
    assert data["nodes"][0]["value"]["values"] == pytest.approx(715.0)
    with pytest.raises(RuntimeError, match="second time"):     # the graph is freed, as by backward
        price.backward()


def assert_shows(summary, array):
    """A summary shows ``array``: its values, or its statistics."""
    assert summary["shape"] == list(array.shape)
    if "values" in summary:
        np.testing.assert_allclose(summary["values"], array, rtol=1e-6, atol=1e-12)
    else:
        np.testing.assert_allclose([summary["stats"][k] for k in ("min", "max", "mean", "std")],
                                   [array.min(), array.max(), array.mean(), array.std()],
                                   rtol=1e-5, atol=1e-12)


def test_every_sent_gradient_matches_the_engines_gradient_of_that_input():
    model, x, t, loss_fn = small_convnet_step()
    loss_ref = loss_fn(model(x), t)
    ref_tensors, _ = graph_nodes(loss_ref)
    wanted = [u for u in ref_tensors if u.requires_grad]
    ref_grads = dict(zip(map(id, wanted), tg.grad(loss_ref, wanted)))
    with record_modules() as calls:
        loss = loss_fn(model(x), t)
    tensors, edges = graph_nodes(loss)
    assert [type(u._ctx).__name__ for u in tensors] == [type(u._ctx).__name__ for u in ref_tensors]
    data = describe(loss, modules=calls)
    uses = {i: sum(1 for s, _ in edges if s == i) for i in range(len(tensors))}
    checked = 0
    for step in data["steps"]:
        assert_shows(step["upstream"], ref_grads[id(ref_tensors[step["node"]])].data)
        for send in step["sends"]:
            if send["grad"] is not None and uses[send["to"]] == 1:
                assert_shows(send["grad"], ref_grads[id(ref_tensors[send["to"]])].data)
                checked += 1
    assert checked >= 10
    for name, p in model.named_parameters():      # .grad is what loss.backward() leaves
        np.testing.assert_allclose(p.grad.data, ref_grads[id(p)].data, rtol=1e-6, atol=1e-9)


def test_modules_become_groups_in_call_order_and_the_hook_is_off_afterwards():
    model, x, t, loss_fn = small_convnet_step()
    assert module_hook._call_recorder is None
    with record_modules() as calls:
        assert module_hook._call_recorder is calls
        loss = loss_fn(model(x), t)
    assert module_hook._call_recorder is None
    data = describe(loss, modules=calls)
    assert [g["label"] for g in data["groups"]] == ["conv1 · Conv2d", "pool1 · MaxPool2d",
                                                    "affine1 · Affine", "affine2 · Affine"]
    by_name = {n["name"]: n for n in data["nodes"] if n["name"]}
    ops = {n["op"]: n for n in data["nodes"]}
    assert by_name["x"]["group"] is None                  # the model's input stays outside
    assert ops["Conv2dFunction"]["group"] == 0 and ops["MaxPool2dFunction"]["group"] == 1
    assert ops["Conv2dFunction"]["module"] == "conv1 · Conv2d"
    assert ops["ReLU"]["group"] is None and ops["ReLU"]["module"] == "SimpleConvNet"
    weights = [n for n in data["nodes"] if n["kind"] == "parameter"]
    assert sorted(n["group"] for n in weights) == [0, 0, 2, 2, 3, 3]     # W and b join their layer


def test_a_module_called_twice_gives_two_groups_and_a_failing_forward_unhooks():
    class Twice(Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Affine(3, 3, seed=0)

        def forward(self, x):
            return self.fc(self.fc(x) * 2.0)

    x = Tensor(np.ones((2, 3), np.float32))
    with record_modules() as calls:
        y = Twice()(x).sum()
    labels = [g["label"] for g in describe(y, modules=calls)["groups"]]
    assert labels == ["fc · Affine", "fc · Affine (call 2)"]
    with pytest.raises(ValueError, match="Affine"):
        with record_modules():
            nn.Affine(3, 4, seed=0)(Tensor(np.ones((2, 5), np.float32)))
    assert module_hook._call_recorder is None
    with record_modules():
        with pytest.raises(RuntimeError, match="already running"):
            with record_modules():
                pass


def test_accumulated_gradients_and_clear_errors():
    w = Parameter(np.array([1.0, 2.0]), name="w")
    w.grad = Tensor(np.array([10.0, 10.0]))
    data = describe((w * w).sum())
    node = next(n for n in data["nodes"] if n["name"] == "w")
    assert node["accumulated"] is True and node["grad"]["values"] == [12.0, 14.0]
    assert node["kind"] == "parameter" and "optimizer" in node["rule"]
    with pytest.raises(TypeError, match="expected a Tensor"):
        tg.explain(np.ones(2), "x.html")
    with pytest.raises(RuntimeError, match="no graph"):
        tg.explain(Tensor([1.0]), "x.html")
    y = (w * 3.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        describe(y)


# ---------------------------------------------------------------------------- summaries


def test_small_arrays_in_full_large_ones_as_statistics_and_a_histogram():
    small = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert summarize(small) == {"shape": [2, 3], "dtype": "float32",
                                "values": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]}
    rng = np.random.default_rng(0)
    large = rng.standard_normal((50, 40)).astype(np.float32)
    large[0, :3] = [np.nan, np.inf, -np.inf]
    s = summarize(large)
    finite = large[np.isfinite(large)].astype(np.float64)
    assert s["stats"]["nan"] == 1 and s["stats"]["inf"] == 2
    np.testing.assert_allclose([s["stats"][k] for k in ("min", "max", "mean", "std")],
                               [finite.min(), finite.max(), finite.mean(), finite.std()], rtol=1e-6)
    assert s["hist"] == np.histogram(finite, bins=20)[0].tolist()
    json.dumps(s, allow_nan=False)                                   # JSON-safe
    nan_small = summarize(np.array([np.nan, np.inf, 1.0]))
    assert nan_small["values"] == ["NaN", "Infinity", 1.0]
    assert summarize(np.zeros(FULL_LIMIT + 1))["hist"][10] == FULL_LIMIT + 1   # constant: one bin
    assert summarize(np.arange(100))["stats"]["max"] == 99                   # integers too


# ---------------------------------------------------------------------------- layout


def crossings(edges, places):
    count = 0
    for (a, b), (c, d) in itertools.combinations(edges, 2):
        if places[a][0] == places[c][0] and places[b][0] == places[d][0]:
            if (places[a][1] - places[c][1]) * (places[b][1] - places[d][1]) < 0:
                count += 1
    return count


def test_layers_point_right_and_barycentres_remove_crossings():
    # two chains given crossed: 0->3, 1->2 (positions by number would cross)
    edges = [(0, 3), (1, 2), (2, 4), (3, 5)]
    places = layer_and_order(6, edges)
    assert all(places[s][0] < places[d][0] for s, d in edges)
    assert crossings(edges, places) == 0
    # a leaf moves next to its only consumer, not to layer 0
    places = layer_and_order(5, [(0, 1), (1, 2), (2, 3), (4, 3)])
    assert places[4][0] == places[3][0] - 1
    # positions inside a layer are distinct
    rng = np.random.default_rng(1)
    edges = [(int(a), int(b)) for a, b in rng.integers(0, 30, (60, 2)) if a < b]
    places = layer_and_order(30, edges)
    assert len(set(places)) == 30 and all(places[s][0] < places[d][0] for s, d in edges)
    with pytest.raises(ValueError, match="cycle"):
        layer_and_order(2, [(0, 1), (1, 0)])


def test_placement_never_overlaps_for_any_choice_of_open_groups():
    model, x, t, loss_fn = small_convnet_step()
    with record_modules() as calls:
        loss = loss_fn(model(x), t)
    data = describe(loss, modules=calls)
    layout = build_layout(len(data["nodes"]), [(s, d) for s, d, _ in data["edges"]],
                          [n["group"] for n in data["nodes"]])
    for r in range(len(data["groups"]) + 1):
        for expanded in itertools.combinations(range(len(data["groups"])), r):
            units, nodes = place(layout, set(expanded))
            cells = [(x, y) for (kind, g), (x, y, w, h) in units.items()
                     if not (kind == "group" and g in expanded)]
            cells += [nodes[n][:2] for n, node in enumerate(data["nodes"])
                      if node["group"] in expanded]
            assert len(cells) == len(set(cells))           # one box per cell
            for s, d, _ in data["edges"]:                   # edges still point right
                assert nodes[s][0] < nodes[d][0] or data["nodes"][s]["group"] == \
                    data["nodes"][d]["group"] not in expanded
    assert isinstance(layout, GraphLayout)


# ---------------------------------------------------------------------------- files and command


def test_the_page_is_one_self_contained_file(tmp_path):
    price, _ = apple_graph()
    price.name = "</script><script>alert(1)</script>"
    path = tg.explain(price, tmp_path / "apples.html", title="apples & <oranges>")
    text = path.read_text(encoding="utf-8")
    assert list(tmp_path.iterdir()) == [path]
    assert text.count("</script>") == 2 and "<script src" not in text
    for outside in ("<link", "@import", "src=", "href=", "url(http", "fetch(", "XMLHttpRequest"):
        assert outside not in text, outside
    assert "apples &amp; &lt;oranges&gt;" in text
    payload = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', text, re.S)
    data = json.loads(payload.group(1))
    assert data["nodes"][0]["name"] == "</script><script>alert(1)</script>"
    assert len(data["steps"]) == 4


def test_png_of_the_same_layout(tmp_path):
    price, _ = apple_graph()
    path = tg.explain(price, tmp_path / "apples.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_command_writes_page_and_picture(capsys, tmp_path):
    html, png = tmp_path / "step.html", tmp_path / "step.png"
    code, out, err = run(capsys, "graph", "--model", "simple_convnet", "--batch", "3",
                         "--html", str(html), "--png", str(png))
    assert code == 0, err
    assert f"wrote {html}" in out and f"wrote {png}" in out
    text = html.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="graph-data">(.*?)</script>', text, re.S).group(1))
    assert [g["label"] for g in data["groups"]][:2] == ["conv1 · Conv2d", "pool1 · MaxPool2d"]
    assert data["nodes"][0]["name"] == "loss" and data["nodes"][0]["value"]["shape"] == []
    x = next(n for n in data["nodes"] if n["name"] == "x")
    assert x["value"]["shape"] == [3, 1, 28, 28] and 0 < x["value"]["stats"]["mean"] < 1  # real images
    assert png.read_bytes()[:4] == b"\x89PNG"
    code, out, err = run(capsys, "graph", "--model", "mlp", "--batch", "100000", "--html",
                         str(tmp_path / "no.html"))
    assert code == 2 and "--batch" in err and not (tmp_path / "no.html").exists()


def test_the_readme_example_writes_the_apple_page(tmp_path, monkeypatch):
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)\n```", readme, flags=re.S)
                if "tg.explain(" in b]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md explain example", "exec"), namespace)
    assert namespace["apple"].grad.item() == pytest.approx(2.2)
    page = (tmp_path / "apples.html").read_text(encoding="utf-8")
    assert '"name":"tax"' in page and "step ▶" in page
