"""tg.manual_seed and the framework's generator: one call makes a script reproducible."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor, init, nn
from tinygrad_edu.data import DataLoader
from tinygrad_edu.random import default_generator, generator, manual_seed


@pytest.fixture(autouse=True)
def _restore_the_framework_generator():
    """Tests here reseed the shared generator; leave it as it was for the tests after them."""
    state = default_generator().bit_generator.state
    yield
    default_generator().bit_generator.state = state


def test_manual_seed_resets_the_one_generator_in_place():
    rng = default_generator()
    assert manual_seed(5) is rng and tg.manual_seed is manual_seed
    np.testing.assert_array_equal(rng.random(4), np.random.default_rng(5).random(4))
    manual_seed(5)
    np.testing.assert_array_equal(default_generator().random(4), np.random.default_rng(5).random(4))


def _draws():
    """Weights, initializer output, a dropout mask and a shuffled order, none given a seed."""
    layer = nn.Linear(4, 3)
    conv = nn.Conv2d(1, 2, 3)
    w = init.he_normal((3, 5))
    dropout = nn.Dropout(0.5)
    mask = dropout(Tensor(np.ones((2, 6)))).data
    order = np.concatenate([t for _, t in DataLoader(np.zeros((7, 1)), np.arange(7), 3,
                                                     shuffle=True)])
    return [layer.W.data, conv.W.data, w, mask, order]


def test_same_seed_same_draws_other_seed_other_draws():
    manual_seed(1)
    first = _draws()
    manual_seed(1)
    again = _draws()
    manual_seed(2)
    other = _draws()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    for a, c in zip(first[:4], other[:4]):
        assert not np.array_equal(a, c)


def test_a_dropout_built_before_manual_seed_follows_it():
    dropout = nn.Dropout(0.5)
    x = Tensor(np.ones((4, 8)))
    manual_seed(9)
    first = dropout(x).data
    manual_seed(9)
    np.testing.assert_array_equal(dropout(x).data, first)


def test_an_own_rng_or_seed_is_independent_of_the_framework_generator():
    manual_seed(1)
    a = nn.Linear(4, 3, seed=7).W.data
    manual_seed(2)
    np.testing.assert_array_equal(nn.Linear(4, 3, seed=7).W.data, a)
    np.testing.assert_array_equal(nn.Linear(4, 3, rng=np.random.default_rng(7)).W.data, a)
    before = default_generator().bit_generator.state
    nn.Dropout(0.5, seed=3)(Tensor(np.ones(10)))
    list(DataLoader(np.zeros((5, 1)), np.arange(5), 2, shuffle=True, seed=4))
    init.he_normal((3, 3), rng=11)
    assert default_generator().bit_generator.state == before   # nothing drew from it


@pytest.mark.parametrize("call, error, match", [
    (lambda: manual_seed(-1), ValueError, "manual_seed: seed must be an int >= 0"),
    (lambda: manual_seed(1.5), ValueError, "manual_seed"),
    (lambda: manual_seed(True), ValueError, "manual_seed"),
    (lambda: nn.Linear(2, 2, rng=3), TypeError, "Affine: rng must be a numpy.random.Generator"),
    (lambda: nn.Dropout(0.5, rng=np.random.default_rng(), seed=1), ValueError,
     "Dropout: give either rng or seed"),
    (lambda: DataLoader(np.zeros((2, 1)), np.zeros(2), 1, seed=-3), ValueError,
     "DataLoader: seed must be an int >= 0"),
])
def test_bad_seeds_are_refused_with_the_component_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_generator_returns_the_framework_generator_by_default():
    assert generator() is default_generator()
    assert generator(seed=3) is not default_generator()


SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    import tinygrad_edu as tg
    from tinygrad_edu.models import MultiLayerNet
    from tinygrad_edu.train import Trainer

    tg.manual_seed(int(sys.argv[1]))
    data = np.random.default_rng(0)           # the data are fixed; only the seed varies
    x = data.standard_normal((120, 8)).astype(np.float32)
    t = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = MultiLayerNet(8, [16, 16], 2, dropout=0.3)
    trainer = Trainer(model, optimizer="sgd", lr=0.1, eval_train_samples=50)
    history = trainer.fit(x, t, epochs=2, batch_size=20, progress=False)
    weights = hashlib.sha256(b"".join(p.data.tobytes() for p in model.parameters()))
    print(json.dumps({"loss": history.loss, "train_acc": history.train_acc,
                      "weights": weights.hexdigest()}))
""")


def _run(seed, tmp_path):
    script = tmp_path / "seeded.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(seed)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_script_with_manual_seed_is_reproducible_across_processes(tmp_path):
    """Weights, dropout masks, shuffling and the evaluation subset all come from the seed:
    two processes with the same seed agree exactly; another seed gives another run."""
    first, again, other = _run(0, tmp_path), _run(0, tmp_path), _run(1, tmp_path)
    assert first == again
    assert len(first["loss"]) == 12
    assert other["weights"] != first["weights"] and other["loss"] != first["loss"]


def test_the_readme_reproducibility_example_repeats_itself():
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Reproducibility", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)\n```", section, flags=re.S)
    runs = []
    for _ in range(2):
        namespace = {}
        exec(compile(snippet, "README.md, Reproducibility", "exec"), namespace)
        runs.append((namespace["y"].data, [p.data.copy() for p in namespace["model"].parameters()]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    assert np.any(runs[0][0] != 0)
