"""The hooks a tinygrad_edu plugin may implement.

A plugin is any module (or object) whose functions are marked with :data:`hookimpl` and whose
names are those of the specifications below. It reaches the framework through the entry-point
group ``tinygrad_edu`` (see ``docs/plugins.md``)::

    from tinygrad_edu import Component, hookimpl

    @hookimpl
    def register_activations():
        return [Component("swish", swish)]

Two families of hooks exist:

* **registration hooks** (``register_layers`` ... ``register_models``) are called once per
  plugin when the plugins are loaded. Each returns a list of
  :class:`~tinygrad_edu.components.Component`; the components are then found by name
  (``tinygrad_edu.registry.get("activation", "swish")``, ``F.swish``, ``nn.MyLayer``).
* **training lifecycle hooks** (``before_fit`` ... ``after_backward``) are called only for a
  Trainer that opts in with ``callbacks=[tinygrad_edu.callbacks.PluginHooks()]``: installing a
  plugin never changes every Trainer. New code offers a callback by name instead
  (``register_callbacks``). They return nothing; a plugin acts by reading or changing the
  trainer, the model or the logs. Setting ``trainer.stop_training = True`` ends training after
  the current batch.

Every argument is passed by keyword; an implementation may accept any subset of the arguments
of its specification (``def after_epoch(logs): ...`` is fine), but no others.
"""
import difflib

import pluggy

PROJECT_NAME = "tinygrad_edu"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function of this module as a hook specification."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's function as the implementation of the hook of the same name."""

# Which registration hook fills which kind of component (kinds as in components.KINDS).
REGISTRATION_HOOKS = {
    "layer": "register_layers",
    "activation": "register_activations",
    "loss": "register_losses",
    "optimizer": "register_optimizers",
    "initializer": "register_initializers",
    "model": "register_models",
    "callback": "register_callbacks",
}


# --------------------------------------------------------------------- registration hooks


@hookspec
def register_layers():
    """Register layer classes (subclasses of :class:`tinygrad_edu.Module`).

    Called: once per plugin, when the plugins are loaded (on the first lookup).
    Arguments: none.
    Returns: ``list[Component]``; each ``Component(name, cls, check=Check(cases=...))`` names a
    Module subclass. ``nn.<ClassName>`` finds it; ``check.cases`` tells the conformance suite
    which constructor arguments and input shapes to try.
    """


@hookspec
def register_activations():
    """Register activation functions ``f(x: Tensor, **kwargs) -> Tensor`` (elementwise or
    along an axis, e.g. softmax).

    Called: once per plugin, when the plugins are loaded.
    Arguments: none.
    Returns: ``list[Component]``; ``F.<name>`` finds each function. ``check`` declares the
    domain and the kinks (``avoid``) for the gradient checks.
    """


@hookspec
def register_losses():
    """Register loss functions ``loss(y: Tensor, t, **kwargs) -> Tensor`` returning a scalar
    (0-d) Tensor, the mean over the batch.

    Called: once per plugin, when the plugins are loaded.
    Arguments: none.
    Returns: ``list[Component]``; ``F.<name>`` finds each function.
    """


@hookspec
def register_optimizers():
    """Register optimizer classes (subclasses of :class:`tinygrad_edu.optimizer.Optimizer`,
    constructed as ``Opt(params, lr=..., **hyper)``).

    Called: once per plugin, when the plugins are loaded.
    Arguments: none.
    Returns: ``list[Component]`` with an ``OptimizerCheck`` stating the first update step as a
    plain numpy formula; ``optim.<ClassName>`` finds each class.
    """


@hookspec
def register_initializers():
    """Register weight initializers
    ``init(shape, fan_in, fan_out, rng, dtype, **kwargs) -> np.ndarray``.

    Called: once per plugin, when the plugins are loaded.
    Arguments: none.
    Returns: ``list[Component]`` with an ``InitializerCheck`` giving the promised standard
    deviation (or constant); ``init.<name>`` finds each function.
    """


@hookspec
def register_models():
    """Register ready-made models by name, for ``tinygrad-edu train --model NAME`` and
    ``tinygrad_edu.models.get_model(NAME)``.

    Called: once per plugin, when the plugins are loaded.
    Arguments: none.
    Returns: ``list[Component]``; each names a builder
    ``build(input_shape, num_classes, **kwargs) -> Module``. ``input_shape`` is one sample's
    shape, channels first ((1, 28, 28) for MNIST); the model is fed batches of that shape
    (a fully connected model flattens them itself); ``kwargs`` are ``seed`` and
    ``weight_init`` as the CLI passes them, plus any of the model's own. The first line of the
    builder's docstring describes the model in ``--help`` and ``tinygrad-edu plugins``.
    """


@hookspec
def register_callbacks():
    """Offer training callbacks by name; a Trainer uses one only when asked to
    (``tinygrad-edu train --callback NAME``, ``registry.get("callback", NAME)()``).

    Called: once per plugin, when the plugins are loaded.
    Arguments: none.
    Returns: ``list[Component]``; each object is a :class:`tinygrad_edu.callbacks.Callback`
    subclass, or any callable, that builds a callback when called with no arguments.
    """


# ---------------------------------------------------------------- training lifecycle hooks


@hookspec
def before_fit(trainer):
    """Called once at the start of ``trainer.fit()``, before the first epoch.

    Arguments: ``trainer`` (the Trainer: ``trainer.model``, ``trainer.optimizer``,
    ``trainer.history``, ``trainer.stop_training``).
    Returns: nothing (the return value is ignored).
    """


@hookspec
def after_fit(trainer):
    """Called once at the end of ``trainer.fit()``, also when training was stopped early.

    Arguments: ``trainer``.
    Returns: nothing.
    """


@hookspec
def before_epoch(trainer, epoch):
    """Called at the start of every epoch.

    Arguments: ``trainer``; ``epoch``, the 0-based epoch number.
    Returns: nothing.
    """


@hookspec
def after_epoch(trainer, epoch, logs):
    """Called at the end of every epoch, after evaluation.

    Arguments: ``trainer``; ``epoch`` (0-based); ``logs``, a dict of this epoch's metrics
    (e.g. ``{"loss": ..., "train_acc": ..., "test_acc": ...}``) that the plugin may extend.
    Returns: nothing. Set ``trainer.stop_training = True`` to stop (early stopping).
    """


@hookspec
def before_batch(trainer, iteration):
    """Called before each mini-batch's forward pass.

    Arguments: ``trainer``; ``iteration``, the 0-based global iteration count.
    Returns: nothing.
    """


@hookspec
def after_batch(trainer, iteration, logs):
    """Called after each mini-batch's optimizer step.

    Arguments: ``trainer``; ``iteration`` (0-based, global); ``logs``, a dict with at least
    ``{"loss": float}`` for this batch.
    Returns: nothing. Set ``trainer.stop_training = True`` to stop after this batch.
    """


@hookspec
def after_backward(trainer, model, iteration):
    """Called after ``loss.backward()`` and before ``optimizer.step()``: the gradients
    ``p.grad`` of ``model.parameters()`` are computed but not yet applied, so a plugin can
    inspect, log or change them in place (gradient clipping, gradient noise).

    Arguments: ``trainer``; ``model`` (the Module being trained); ``iteration`` (0-based).
    Returns: nothing.
    """


SPEC_NAMES = tuple(name for name, obj in list(globals().items())
                   if hasattr(obj, PROJECT_NAME + "_spec"))
"""The names of every hook specification above."""


def implementation_problems(manager: pluggy.PluginManager, plugin) -> list[str]:
    """What is wrong with one registered plugin's hook implementations (``check_pending()``
    for one plugin): a ``@hookimpl`` that matches no specification, and a function named like
    a hook but not marked ``@hookimpl``."""
    problems = []
    for caller in manager.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and not impl.optionalhook:
                close = difflib.get_close_matches(caller.name, SPEC_NAMES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"@hookimpl {caller.name!r} matches no hook specification{hint}")
    marker = PROJECT_NAME + "_impl"
    for spec_name in SPEC_NAMES:
        try:
            candidate = getattr(plugin, spec_name, None)
        except Exception:   # a property that raises is not a hook implementation
            candidate = None
        if callable(candidate) and not hasattr(candidate, marker):
            problems.append(f"function {spec_name!r} is not marked with @hookimpl "
                            f"(from tinygrad_edu import hookimpl)")
    return problems
