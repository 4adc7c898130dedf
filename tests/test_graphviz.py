"""Graphviz DOT export of the computation graph."""
import re

import numpy as np
import pytest

from tinygrad_edu import Parameter, Tensor
from tinygrad_edu.graphviz import graph_nodes, save_dot, to_dot

NODE = re.compile(r'^  (t\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r"^  (t\d+) -> (t\d+);$")


def parse(dot):
    """(labels by node id, edges as (src, dst) label pairs) from to_dot text; checks the frame."""
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph computation_graph {" and lines[-1] == "}"
    labels, edges = {}, []
    for line in lines[1:-1]:
        if (m := NODE.match(line)):
            labels[m.group(1)] = m.group(2)
        elif (m := EDGE.match(line)):
            edges.append((m.group(1), m.group(2)))
        else:
            assert line.startswith("  ") and line.rstrip().endswith(";"), line
    assert all(a in labels and b in labels for a, b in edges)
    return labels, [(labels[a], labels[b]) for a, b in edges]


def test_small_graph_has_the_right_nodes_and_edges():
    x = Tensor(np.ones((2, 3), np.float32), name="x")
    W = Parameter(np.ones((3, 4), np.float32), name="W")
    b = Parameter(np.zeros(4, np.float32), name="b")
    y = ((x @ W) + b).sum()
    labels, edges = parse(to_dot(y))
    assert len(labels) == 6          # x, W, matmul, b, add, sum
    ops = sorted(label.split("\\n")[0] for label in labels.values())
    assert ops == ["Add", "MatMul", "Sum", "W: Parameter", "b: Parameter", "x: Tensor"], ops
    by_op = {label.split("\\n")[0]: label for label in labels.values()}
    assert by_op["MatMul"].endswith("\\n(2, 4) float32")
    assert by_op["Sum"].endswith("\\n() float32")
    assert by_op["x: Tensor"].endswith("(2, 3) float32")
    expected = {("x: Tensor", "MatMul"), ("W: Parameter", "MatMul"), ("MatMul", "Add"),
                ("b: Parameter", "Add"), ("Add", "Sum")}
    assert {(a.split("\\n")[0], b.split("\\n")[0]) for a, b in edges} == expected
    assert len(edges) == 5


def test_shared_input_appears_once_and_square_has_two_edges():
    x = Parameter(np.array([1.0, 2.0]))
    y = x * x
    nodes, edges = graph_nodes(y)
    assert len(nodes) == 2 and edges == [(1, 0), (1, 0)]
    z = (y + x).sum()
    nodes, edges = graph_nodes(z)
    assert len(nodes) == 4 and sum(1 for s, _ in edges if nodes[s] is x) == 3


def test_leaf_without_graph_and_deep_chain():
    assert parse(to_dot(Tensor([1.0])))[1] == []
    x = Parameter(np.zeros(1))
    y = x
    for _ in range(5000):             # deeper than the recursion limit: the walk is iterative
        y = y + 1.0
    nodes, edges = graph_nodes(y)
    assert len(nodes) == 5000 + 5000 + 1 and len(edges) == 10000


def test_quotes_in_names_are_escaped_and_save_dot(tmp_path):
    x = Parameter(np.ones(2), name='say "hi" \\ there')
    labels, _ = parse(to_dot((x * 2.0).sum(), title="a graph", rankdir="LR"))
    assert any('say \\"hi\\" \\\\ there' in label for label in labels.values())
    path = save_dot(x.sum(), tmp_path / "g.dot")
    assert path.read_text().startswith("digraph") and list(tmp_path.iterdir()) == [path]
    with pytest.raises(TypeError, match="Tensor"):
        to_dot(np.ones(2))
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(x, rankdir="XY")


def test_graph_freed_by_backward_is_marked():
    x = Parameter(np.ones(2))
    y = (x * 3.0).sum()
    y.backward()
    assert "graph freed" in to_dot(y)
