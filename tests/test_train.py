"""The training loop: reproducibility, learning, evaluation, callbacks, Ctrl-C."""
import json
import os
import signal

import numpy as np
import pytest

from tinygrad_edu import Parameter, Tensor, plugins
from tinygrad_edu.callbacks import Callback, PluginHooks
from tinygrad_edu.hookspecs import hookimpl
from tinygrad_edu.module import Module
from tinygrad_edu.train import DivergenceError, History, Trainer, accuracy, evaluate


class TinyMLP(Module):
    """x @ W1 + b1 -> tanh -> @ W2 + b2, built from bare Parameters (no layer plugin needed)."""

    def __init__(self, n_in=4, n_hidden=8, n_out=3, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W1 = Parameter((rng.standard_normal((n_in, n_hidden)) * 0.5).astype(np.float32))
        self.b1 = Parameter(np.zeros(n_hidden, np.float32))
        self.W2 = Parameter((rng.standard_normal((n_hidden, n_out)) * 0.5).astype(np.float32))
        self.b2 = Parameter(np.zeros(n_out, np.float32))
        self.modes_seen = []

    def forward(self, x):
        self.modes_seen.append(self.training)
        return (x @ self.W1 + self.b1).tanh() @ self.W2 + self.b2


def blobs(n=300, seed=0):
    """Three Gaussian blobs in 4-d, float32, integer labels."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, n)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    x = (centers[t] + rng.standard_normal((n, 4)) * 0.7).astype(np.float32)
    return x, t


def params_of(model):
    return {name: p.data.copy() for name, p in model.named_parameters()}


@pytest.fixture
def plugin():
    """Register run-time plugins for one test; they are removed afterwards."""
    names = []

    def add(obj, name):
        plugins.register_plugin(obj, name=name)
        names.append(name)
        return obj

    yield add
    for name in names:
        try:
            plugins.unregister_plugin(name)
        except ValueError:   # the test removed it already
            pass


def test_same_seed_same_history_and_other_seed_differs():
    x, t = blobs()
    runs = []
    for seed in (3, 3, 4):
        model = TinyMLP(seed=0)
        h = Trainer(model, optimizer="sgd", lr=0.1).fit(x, t, x[:50], t[:50], epochs=2, batch_size=32,
                                                          seed=seed, progress=False)
        runs.append((h, params_of(model)))
    (h1, p1), (h2, p2), (h3, _) = runs
    assert h1.loss == h2.loss and h1.test_acc == h2.test_acc and h1.train_loss == h2.train_loss
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert h1.loss != h3.loss


def test_training_reduces_loss_and_learns():
    x, t = blobs(600)
    model = TinyMLP()
    before = evaluate(model, x, t)
    h = Trainer(model, optimizer="adam", lr=0.02).fit(x, t, x, t, epochs=5, batch_size=50, seed=0,
                                                        progress=False)
    assert len(h.loss) == 5 * 12
    assert np.mean(h.loss[-12:]) < 0.5 * np.mean(h.loss[:3])
    assert h.epochs == [1, 2, 3, 4, 5] and len(h.test_acc) == 5 == len(h.train_acc)
    assert h.test_acc[-1] > 0.9 > before.accuracy
    assert h.test_loss[-1] < before.loss
    assert isinstance(h.loss[0], float)


def test_eval_every_and_history_grows_over_fit_calls():
    x, t = blobs(100)
    trainer = Trainer(TinyMLP(), lr=0.1)
    h = trainer.fit(x, t, epochs=5, batch_size=50, eval_every=2, progress=False)
    assert h.epochs == [2, 4, 5] and h.iterations == [4, 8, 10] and h.test_acc == []
    trainer.fit(x, t, epochs=1, batch_size=50, eval_every=0, progress=False)
    assert h.epochs == [2, 4, 5, 6] and len(h.loss) == 12 and trainer.iteration == 12
    assert h["train_acc"] is h.train_acc and set(h.as_dict()) >= {"loss", "test_acc", "interrupted"}


def test_evaluate_uses_eval_mode_no_grad_and_restores_mode():
    x, t = blobs(250)
    model = TinyMLP()
    model.train()
    result = evaluate(model, x, t, batch_size=100)
    assert model.modes_seen == [False, False, False]   # three batches, all in eval mode
    assert model.training is True
    manual = (model(Tensor(x)).data.argmax(1) == t).mean()
    assert result.accuracy == pytest.approx(manual)
    assert accuracy(model, x, np.eye(3, dtype=np.float32)[t]) == pytest.approx(manual)   # one-hot too
    model.eval()
    evaluate(model, x, t)
    assert model.training is False


def test_bad_data_and_optimizer_give_clear_errors():
    x, t = blobs(20)
    trainer = Trainer(TinyMLP(), lr=0.1)
    with pytest.raises(TypeError, match="uint8.*normalize"):
        trainer.fit((x * 10).astype(np.uint8), t, progress=False)
    with pytest.raises(ValueError, match="same number of samples"):
        trainer.fit(x, t[:-1], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        trainer.fit(x, t, batch_size=0, progress=False)
    with pytest.raises(LookupError, match="Unknown optimizer 'adamm'.*adam"):
        Trainer(TinyMLP(), optimizer="adamm")


def test_float64_data_is_converted_once_to_the_model_dtype():
    x, t = blobs(64)
    model = TinyMLP()
    Trainer(model, lr=0.1).fit(x.astype(np.float64), t, epochs=1, batch_size=32, progress=False)
    assert all(p.data.dtype == np.float32 for p in model.parameters())


def test_optimizer_instance_and_regularization_term_are_used():
    x, t = blobs(64)
    model = TinyMLP()
    from tinygrad_edu import optim
    opt = optim.SGD(model.parameters(), lr=0.1)
    model.regularization = lambda: (model.W1 * model.W1).sum() * 0.5 * 100.0   # a huge L2 term
    trainer = Trainer(model, optimizer=opt)
    assert trainer.optimizer is opt
    h = trainer.fit(x, t, epochs=1, batch_size=64, progress=False)
    data_loss = evaluate(TinyMLP(), x, t).loss
    assert h.loss[0] > data_loss + 10            # the recorded loss includes the term
    assert h.train_loss[0] < h.loss[0]           # the evaluation does not


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def before_fit(self, trainer):
        self.calls.append(("before_fit",))

    def after_fit(self, trainer):
        self.calls.append(("after_fit", trainer.history.interrupted))

    def before_epoch(self, trainer, epoch):
        self.calls.append(("before_epoch", epoch))

    def after_epoch(self, trainer, epoch, logs):
        self.calls.append(("after_epoch", epoch, sorted(logs)))

    def before_batch(self, trainer, iteration):
        self.calls.append(("before_batch", iteration))

    def after_backward(self, trainer, model, iteration):
        assert model is trainer.model
        assert all(p.grad is not None for p in model.parameters())
        self.calls.append(("after_backward", iteration))

    def after_batch(self, trainer, iteration, logs):
        self.calls.append(("after_batch", iteration, sorted(logs)))


def test_callbacks_are_called_in_order():
    rec = Recorder()
    x, t = blobs(4)
    Trainer(TinyMLP(), lr=0.1, callbacks=[rec]).fit(x, t, x, t, epochs=2, batch_size=2, progress=False)
    batch = lambda i: [("before_batch", i), ("after_backward", i), ("after_batch", i, ["batch_size", "loss"])]
    logs = ["loss", "test_acc", "test_loss", "train_acc", "train_loss"]
    assert rec.calls == [("before_fit",),
                         ("before_epoch", 0), *batch(0), *batch(1), ("after_epoch", 0, logs),
                         ("before_epoch", 1), *batch(2), *batch(3), ("after_epoch", 1, logs),
                         ("after_fit", False)]


class EarlyStop(Callback):
    def after_epoch(self, trainer, epoch, logs):
        if epoch == 1:
            trainer.stop_training = True


def test_callback_stops_training_early():
    x, t = blobs(40)
    h = Trainer(TinyMLP(), lr=0.1, callbacks=[EarlyStop()]).fit(x, t, epochs=10, batch_size=20, progress=False)
    assert h.epochs == [1, 2] and len(h.loss) == 4
    assert h.stopped_early and not h.interrupted


class ZeroGrad(Callback):
    """A gradient-changing plugin: with every gradient zeroed SGD cannot move anything."""

    def after_backward(self, trainer, model, iteration):
        for p in model.parameters():
            p.grad.data[...] = 0


def test_callback_can_change_gradients_before_the_step():
    x, t = blobs(40)
    model = TinyMLP()
    before = params_of(model)
    Trainer(model, optimizer="sgd", lr=1.0, callbacks=[ZeroGrad()]).fit(x, t, epochs=2, batch_size=10, progress=False)
    after = params_of(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)


class ClipNorm(Callback):
    """Gradient clipping by global norm, as a plugin; records the norms the optimizer gets."""

    def __init__(self, max_norm):
        self.max_norm = max_norm
        self.norms = []

    def after_backward(self, trainer, model, iteration):
        grads = [p.grad.data for p in model.parameters()]
        norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads)))
        if norm > self.max_norm:
            for g in grads:
                g *= self.max_norm / norm
        self.norms.append(float(np.sqrt(sum(float((g * g).sum()) for g in grads))))


def test_gradient_clipping_callback():
    clip = ClipNorm(1e-3)
    x, t = blobs(40)
    model = TinyMLP()
    before = params_of(model)
    Trainer(model, optimizer="sgd", lr=1.0, callbacks=[clip]).fit(x, t, epochs=1, batch_size=10, progress=False)
    assert len(clip.norms) == 4 and max(clip.norms) <= 1e-3 * 1.0001
    # SGD moved every parameter by lr * (clipped gradient): in total at most 4 * 1e-3
    moved = np.sqrt(sum(((params_of(model)[k] - before[k]) ** 2).sum() for k in before))
    assert 0 < moved <= 4e-3 * 1.0001


class InterruptAfterBatch(Callback):
    def __init__(self, at):
        self.at = at

    def after_batch(self, trainer, iteration, logs):
        if iteration == self.at:
            raise KeyboardInterrupt


def reference_params(x, t, iterations, batch_size=10, seed=0):
    """The parameters after exactly ``iterations`` steps of the same run."""
    class Stop(Callback):
        def after_batch(self, trainer, iteration, logs):
            if iteration == iterations - 1:
                trainer.stop_training = True
    model = TinyMLP()
    Trainer(model, optimizer="adam", lr=0.01, callbacks=[Stop()]).fit(
        x, t, epochs=5, batch_size=batch_size, seed=seed, progress=False, verbose=False)
    return params_of(model)


def test_keyboard_interrupt_in_a_callback_keeps_params_and_history(capsys):
    x, t = blobs(40)
    model = TinyMLP()
    rec = Recorder()
    h = Trainer(model, optimizer="adam", lr=0.01, callbacks=[InterruptAfterBatch(at=5), rec]).fit(x, t, x, t, epochs=5, batch_size=10, seed=0,
                                                      progress=False)
    assert h.interrupted and not h.stopped_early
    assert len(h.loss) == 6                 # iterations 0..5 completed
    assert h.epochs == [1]                  # epoch 2 (iterations 4..7) was cut short
    assert rec.calls[-1] == ("after_fit", True)
    assert "interrupted" in capsys.readouterr().err.lower()
    expected = reference_params(x, t, iterations=6)
    got = params_of(model)
    assert all(np.array_equal(expected[k], got[k]) for k in expected)


class InterruptInBackward(Callback):
    def after_backward(self, trainer, model, iteration):
        if iteration == 3:
            raise KeyboardInterrupt


def test_keyboard_interrupt_inside_the_step_drops_that_batch():
    x, t = blobs(40)
    model = TinyMLP()
    h = Trainer(model, optimizer="adam", lr=0.01, callbacks=[InterruptInBackward()]).fit(x, t, epochs=5, batch_size=10, seed=0,
                                                      progress=False, verbose=False)
    assert h.interrupted and len(h.loss) == 3
    assert all(p.grad is None for p in model.parameters())
    expected = reference_params(x, t, iterations=3)
    assert all(np.array_equal(expected[k], v) for k, v in params_of(model).items())


class SendSigint(Callback):
    def before_batch(self, trainer, iteration):
        if iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_real_ctrl_c_finishes_the_batch_then_stops(capsys):
    # Python's own SIGINT handler, as in a terminal: a test run started as a background job
    # (`pytest &`) ignores SIGINT, and the Trainer leaves an ignored SIGINT ignored
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        x, t = blobs(40)
        h = Trainer(TinyMLP(), lr=0.1, callbacks=[SendSigint()]).fit(x, t, epochs=3, batch_size=10,
                                                                    progress=False)
        assert h.interrupted and len(h.loss) == 3          # batch 2 was completed, then it stopped
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # put back
        assert "Ctrl-C" in capsys.readouterr().err
    finally:
        signal.signal(signal.SIGINT, outer)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_an_ignored_sigint_stays_ignored():
    """A process that ignores SIGINT (a shell's background job, nohup-like launchers) is not
    interrupted by one: fit leaves the disposition alone and trains to the end."""
    outer = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        x, t = blobs(40)
        h = Trainer(TinyMLP(), lr=0.1, callbacks=[SendSigint()]).fit(x, t, epochs=3, batch_size=10,
                                                                    progress=False)
        assert not h.interrupted and len(h.loss) == 12
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)


def test_progress_bar_is_drawn_on_stderr(capsys):
    x, t = blobs(40)
    Trainer(TinyMLP(), lr=0.1).fit(x, t, x, t, epochs=2, batch_size=10, progress=True)
    err = capsys.readouterr().err
    assert "8/8" in err and "epoch 2:" in err and "test acc" in err


def test_history_is_a_history():
    assert isinstance(Trainer(TinyMLP()).history, History)


class InterruptBeforeBatch(Callback):
    def before_batch(self, trainer, iteration):
        if iteration == 2:
            raise KeyboardInterrupt


class InterruptAfterEpoch(Callback):
    def after_epoch(self, trainer, epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize("hook, losses, epochs", [(InterruptBeforeBatch, 2, []),
                                                  (InterruptAfterEpoch, 8, [1, 2])])
def test_keyboard_interrupt_from_other_callbacks_also_stops_cleanly(hook, losses, epochs):
    x, t = blobs(40)
    model = TinyMLP()
    trainer = Trainer(model, lr=0.1, callbacks=[hook()])
    h = trainer.fit(x, t, x, t, epochs=5, batch_size=10, progress=False, verbose=False)
    assert h.interrupted and len(h.loss) == losses and h.epochs == epochs
    assert len(h.train_acc) == len(h.test_acc) == len(h.epochs) == len(h.times)
    assert model.training is True


def test_keyboard_interrupt_during_evaluation_records_no_half_evaluation():
    x, t = blobs(40)
    calls = {"n": 0}

    class SlowTestSet(TinyMLP):
        def forward(self, x):
            if not self.training:
                calls["n"] += 1
                if calls["n"] == 2:     # the test-set evaluation of the first epoch
                    raise KeyboardInterrupt
            return super().forward(x)

    h = Trainer(SlowTestSet(), lr=0.1).fit(x, t, x, t, epochs=3, batch_size=10, progress=False,
                                          verbose=False)
    assert h.interrupted and len(h.loss) == 4
    assert h.epochs == h.train_acc == h.test_acc == h.train_loss == h.times == []


# ---------------------------------------------------------------- learning-rate schedules


def test_cosine_schedule_by_name_sets_lr_every_iteration_and_is_recorded():
    from tinygrad_edu.schedules import Cosine
    x, t = blobs(100)
    trainer = Trainer(TinyMLP(), optimizer="sgd", lr=0.1)
    h = trainer.fit(x, t, epochs=2, batch_size=25, progress=False, lr_schedule="cosine")
    expected = [Cosine(0.1, 8)(i) for i in range(8)]          # 2 epochs x 4 batches
    assert h.lr == pytest.approx(expected) and h.lr[0] == pytest.approx(0.1)
    assert h.lr_schedule == "Cosine(lr0=0.1, total_steps=8, lr_min=0.0)"
    assert trainer.optimizer.lr == pytest.approx(expected[-1])   # the last value is kept
    # a second fit starts its schedule again from the trainer's base lr, not the decayed one
    trainer.fit(x, t, epochs=1, batch_size=25, progress=False, lr_schedule="cosine")
    assert h.lr[8:] == pytest.approx([Cosine(0.1, 4)(i) for i in range(4)])
    assert trainer.base_lr == 0.1 and len(h.lr) == len(h.loss) == 12


def test_fixed_lr_is_recorded_without_a_schedule():
    x, t = blobs(100)
    h = Trainer(TinyMLP(), optimizer="sgd", lr=0.05).fit(x, t, epochs=1, batch_size=50, progress=False)
    assert h.lr == [0.05, 0.05] and h.lr_schedule is None


def test_callable_schedule_gets_the_step_of_this_fit_and_really_drives_the_optimizer():
    x, t = blobs(100)
    model = TinyMLP()
    before = params_of(model)
    steps = []

    def frozen(step):            # lr 0: SGD must leave every parameter as it was
        steps.append(step)
        return 0.0
    trainer = Trainer(model, optimizer="sgd", lr=0.5)
    trainer.fit(x, t, epochs=2, batch_size=50, progress=False, lr_schedule=frozen)
    assert steps == [0, 1, 2, 3]
    after = params_of(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    trainer.fit(x, t, epochs=1, batch_size=50, progress=False, lr_schedule=frozen)
    assert steps[4:] == [0, 1]                  # counted from the start of each fit
    # and a non-zero scheduled lr does move them (same model, same data)
    trainer.fit(x, t, epochs=1, batch_size=50, progress=False, lr_schedule=lambda step: 0.5)
    assert not np.array_equal(after["W1"], model.W1.data)


def test_callbacks_see_the_scheduled_lr_before_the_batch():
    seen = []

    class Watch(Callback):
        def before_batch(self, trainer, iteration):
            seen.append(trainer.optimizer.lr)
    x, t = blobs(40)
    Trainer(TinyMLP(), lr=1.0, callbacks=[Watch()]).fit(x, t, epochs=1, batch_size=10, progress=False,
                                   lr_schedule=lambda step: 0.1 * (step + 1))
    assert seen == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_bad_schedules_give_clear_errors():
    from tinygrad_edu.train import fit
    x, t = blobs(20)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'cosin'"):
        Trainer(TinyMLP(), lr=0.1).fit(x, t, progress=False, lr_schedule="cosin")
    with pytest.raises(ValueError, match=r"gave lr = -1\.0 at step 0"):
        fit(TinyMLP(), x, t, lr=0.1, progress=False, lr_schedule=lambda step: -1.0)
    with pytest.raises(TypeError, match="lr_schedule must be"):
        Trainer(TinyMLP(), lr=0.1).fit(x, t, progress=False, lr_schedule=0.01)


# ---------------------------------------------------------------- callbacks are opt-in


class GlobalHook:
    """A plugin's lifecycle hook: before callbacks, it changed every Trainer."""

    def __init__(self):
        self.epochs = []

    @hookimpl
    def after_epoch(self, trainer, epoch, logs):
        self.epochs.append(epoch)


def test_an_installed_lifecycle_hook_reaches_only_trainers_that_opt_in(plugin):
    hook = plugin(GlobalHook(), "global_hook")
    x, t = blobs(40)
    Trainer(TinyMLP(), lr=0.1).fit(x, t, epochs=2, batch_size=20, progress=False)
    assert hook.epochs == []                                   # a plain Trainer: untouched
    Trainer(TinyMLP(), lr=0.1, callbacks=[PluginHooks()]).fit(x, t, epochs=2, batch_size=20,
                                                               progress=False)
    assert hook.epochs == [0, 1]


def test_callbacks_must_be_instances_of_callbacks():
    with pytest.raises(TypeError, match=r"instances; got the class Recorder \(write Recorder\(\)\)"):
        Trainer(TinyMLP(), callbacks=[Recorder])
    with pytest.raises(TypeError, match="is not a callback"):
        Trainer(TinyMLP(), callbacks=[object()])
    with pytest.raises(TypeError, match="must be a list of callbacks"):
        Trainer(TinyMLP(), callbacks=Recorder())


class Boom(Callback):
    def after_epoch(self, trainer, epoch, logs):
        raise ValueError("boom")


def test_an_error_in_a_callback_still_runs_every_after_fit_then_is_raised():
    x, t = blobs(40)
    rec = Recorder()
    trainer = Trainer(TinyMLP(), lr=0.1, callbacks=[Boom(), rec])
    with pytest.raises(ValueError, match="boom") as info:
        trainer.fit(x, t, epochs=3, batch_size=20, progress=False)
    assert rec.calls[-1] == ("after_fit", False)
    assert trainer.error is info.value and trainer.status == "failed"
    assert trainer.progress()["error"].startswith("ValueError: boom")
    if hasattr(info.value, "__notes__"):
        assert "(raised in callback Boom.after_epoch)" in info.value.__notes__


# ---------------------------------------------------------------- divergence


def test_a_nan_loss_stops_training_before_it_touches_the_parameters():
    x, t = blobs(40)
    model = TinyMLP()

    class Poison(Callback):
        def before_batch(self, trainer, iteration):
            if iteration == 5:                 # the second batch of epoch 2
                x[:] = np.nan
    trainer = Trainer(model, optimizer="sgd", lr=0.1, callbacks=[Poison()])
    with pytest.raises(DivergenceError, match=r"the loss is nan at iteration 5 \(epoch 2\)"):
        trainer.fit(x, t, epochs=3, batch_size=10, shuffle=False, progress=False)
    assert trainer.status == "diverged" and len(trainer.history.loss) == 5
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_a_parameter_that_is_not_finite_ends_the_epoch_with_an_error():
    x, t = blobs(40)

    class Overflow(Callback):
        def after_batch(self, trainer, iteration, logs):
            if iteration == 3:                 # the last batch of epoch 1: no loss sees it
                trainer.model.b2.data[0] = np.inf
    with pytest.raises(DivergenceError, match=r"not finite|NaN or infinite after epoch 1"):
        Trainer(TinyMLP(), lr=0.1, callbacks=[Overflow()]).fit(x, t, epochs=2, batch_size=10,
                                                                progress=False)


# ---------------------------------------------------------------- checkpoints and resuming


def test_checkpoint_saves_every_epoch_and_never_nan_weights(tmp_path):
    from tinygrad_edu.callbacks import Checkpoint
    from tinygrad_edu.serialization import read_params
    x, t = blobs(40)
    saves = []

    class Spy(Callback):
        def after_epoch(self, trainer, epoch, logs):   # runs after the checkpoint's after_epoch
            saves.append(read_params(tmp_path / "params.npz")["W1"].copy())
    model = TinyMLP()
    checkpoint = Checkpoint(tmp_path, record={"what": "test"}, plot=False)
    trainer = Trainer(model, lr=0.1, callbacks=[checkpoint, Spy()])
    trainer.fit(x, t, epochs=2, batch_size=20, progress=False)
    assert len(saves) == 2 and not np.array_equal(saves[0], saves[1])
    assert np.array_equal(saves[1], model.W1.data)
    record = json.loads((tmp_path / "history.json").read_text())
    assert record["what"] == "test" and record["status"] == "finished" and record["epochs_done"] == 2
    good = model.W1.data.copy()
    model.W1.data[0, 0] = np.nan                                # a run gone bad afterwards
    with pytest.raises(DivergenceError):
        trainer.fit(x, t, epochs=1, batch_size=20, progress=False)
    assert np.array_equal(read_params(tmp_path / "params.npz")["W1"], good)
    assert "the last good params.npz (iteration 4, 2 complete epoch(s))" in checkpoint.summary()


def test_initial_epoch_resumes_exactly_where_a_run_stopped(tmp_path):
    """Four epochs in one go equal two, a save, a new process (here: new objects), two more."""
    from tinygrad_edu.callbacks import Checkpoint
    from tinygrad_edu.serialization import load_params
    x, t = blobs(100)
    kwargs = dict(epochs=4, batch_size=20, seed=5, progress=False, lr_schedule="cosine")
    whole = Trainer(TinyMLP(), optimizer="adam", lr=0.01)
    whole.fit(x, t, x, t, **kwargs)

    class StopAfter2(Callback):
        def after_epoch(self, trainer, epoch, logs):
            trainer.stop_training = epoch == 1
    first = Trainer(TinyMLP(), optimizer="adam", lr=0.01, callbacks=[StopAfter2(), Checkpoint(tmp_path, plot=False)])
    first.fit(x, t, x, t, **kwargs)
    second = Trainer(load_params(TinyMLP(seed=9), tmp_path / "params.npz"), optimizer="adam", lr=0.01)
    with np.load(tmp_path / "optimizer.npz") as saved:
        second.optimizer.load_state_dict(dict(saved))
    second.epochs_done, second.iteration = 2, 10        # 2 epochs of 5 batches
    second.fit(x, t, x, t, initial_epoch=2, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(params_of(whole.model).values(),
                                                    params_of(second.model).values()))
    assert second.history.lr == whole.history.lr[10:] and second.history.epochs == [3, 4]


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_stops_after_the_batch_like_ctrl_c(capsys):
    class SendSigterm(Callback):
        def before_batch(self, trainer, iteration):
            if iteration == 1:
                os.kill(os.getpid(), signal.SIGTERM)
    x, t = blobs(40)
    trainer = Trainer(TinyMLP(), lr=0.1, callbacks=[SendSigterm()])
    h = trainer.fit(x, t, epochs=3, batch_size=10, progress=False)
    assert h.interrupted and len(h.loss) == 2 and trainer.stop_reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert "Training interrupted (SIGTERM) at epoch 1, iteration 2" in capsys.readouterr().err
