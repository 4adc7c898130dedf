"""Plots: each writes a real PNG file atomically, without a display."""
import numpy as np
import pytest

from tinygrad_edu import Parameter
from tinygrad_edu import plots
from tinygrad_edu.train import History

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG and len(data) > 1000


def only(tmp_path, path):
    """The folder holds the figure and nothing else (no temporary file)."""
    return sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_history_plot_from_history_and_dict(tmp_path):
    h = History(loss=list(np.linspace(2, 0.1, 50)), epochs=[1, 2], train_acc=[0.5, 0.8], test_acc=[0.4, 0.7])
    path = plots.plot_history(h, tmp_path / "a" / "curves.png", title="run", smooth_window=5)
    assert path == tmp_path / "a" / "curves.png" and is_png(path) and only(tmp_path, path)
    assert is_png(plots.plot_history({"loss": [1.0, 0.5]}, tmp_path / "b.png"))
    assert is_png(plots.plot_history(History(), tmp_path / "empty.png"))


def test_lines_histograms_trajectories_filters(tmp_path):
    assert is_png(plots.plot_lines({"SGD": np.random.rand(30), "Adam": np.random.rand(30)},
                                   tmp_path / "lines.png", smooth_window=5, ylim=(0, 1)))
    acts = [np.random.rand(100, 10) for _ in range(5)]
    assert is_png(plots.plot_activation_histograms(acts, tmp_path / "hist.png", title="sigmoid"))
    assert is_png(plots.plot_activation_histograms({"a": acts[0]}, tmp_path / "hist1.png", value_range=None))
    traj = {"SGD": np.cumsum(np.random.randn(20, 2), 0), "Adam": np.zeros((5, 2))}
    assert is_png(plots.plot_trajectories(lambda x, y: x ** 2 / 20 + y ** 2, traj, tmp_path / "traj.png"))
    W = Parameter(np.random.randn(12, 1, 5, 5).astype(np.float32))
    assert is_png(plots.plot_filters(W, tmp_path / "filters.png"))
    assert is_png(plots.plot_filters({"before": W.data, "after": np.random.randn(12, 3, 5, 5)},
                                     tmp_path / "filters2.png", columns=6))


def test_bad_inputs_raise_and_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        plots.plot_filters(np.ones((5, 5)), tmp_path / "f.png")
    with pytest.raises(ValueError, match=r"\(steps, 2\)"):
        plots.plot_trajectories(lambda x, y: x + y, {"SGD": np.ones((3, 3))}, tmp_path / "t.png")
    with pytest.raises(ValueError, match="no curves"):
        plots.plot_lines({}, tmp_path / "l.png")
    assert list(tmp_path.iterdir()) == []


def test_smooth_is_a_moving_average_of_same_length():
    y = np.array([0.0, 0, 3, 0, 0])
    s = plots.smooth(y, 3)
    np.testing.assert_allclose(s, [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(plots.smooth(y, 1), y)


def test_pyplot_backend_is_not_changed(tmp_path):
    import matplotlib
    backend = matplotlib.get_backend()
    plots.plot_lines({"a": [1, 2]}, tmp_path / "x.png")
    assert matplotlib.get_backend() == backend


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, in order."""
    figures = []
    real = plots.save_figure

    def keep(fig, path, **kwargs):
        figures.append(fig)
        return real(fig, path, **kwargs)
    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_history_loss_is_on_a_log_scale_when_positive(tmp_path, drawn):
    loss = list(2.3 * np.exp(-np.arange(600) / 50) + 0.01)     # flat on a linear scale after ~100
    plots.plot_history({"loss": loss}, tmp_path / "log.png", title="mlp, SGD lr=0.1")
    ax_loss = drawn[-1].axes[0]
    assert ax_loss.get_yscale() == "log" and "log" in ax_loss.get_ylabel()
    assert drawn[-1]._suptitle.get_text() == "mlp, SGD lr=0.1"
    plots.plot_history({"loss": [0.5, -0.1, 0.2]}, tmp_path / "lin.png")   # a loss that can be <= 0
    assert drawn[-1].axes[0].get_yscale() == "linear"


def test_the_cli_plot_title_says_what_the_run_used(tmp_path, drawn, capsys):
    from tinygrad_edu import cli
    code = cli.main(["train", "--model", "mlp", "--source", "sample", "--epochs", "1", "--limit", "200",
                     "--test-limit", "100", "--optimizer", "sgd", "--lr", "0.05", "--no-progress",
                     "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    title = drawn[-1]._suptitle.get_text()
    for phrase in ("mlp", "SGD lr=0.05", "200 training images (--limit 200)",
                   "100 test images (--test-limit 100)", "embedded MNIST sample"):
        assert phrase in title, title
