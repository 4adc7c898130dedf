"""Optimizers, each correct one ("Ok...") next to the ways a plugin author gets it wrong
("Bad..."). A mutant shares its sibling's declaration (the formula in numpy)."""
import numpy as np

from tinygrad_edu import Component, OptimizerCheck, hookimpl
from tinygrad_edu.optimizer import Optimizer


def _zeros(state, key, param):
    if key not in state:
        state[key] = np.zeros_like(param.data)
    return state[key]


# ---- momentum: v <- m v - lr g;  p <- p + v ------------------------------------------------------


class OkMomentum(Optimizer):
    """v <- momentum v - lr g;  p <- p + v"""

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, momentum=momentum)

    def update_one(self, param, grad, state):
        v = _zeros(state, "v", param)
        v *= self.momentum
        v -= self.lr * grad
        param.data += v


class BadMomentumNeverDecayed(OkMomentum):
    def update_one(self, param, grad, state):
        v = _zeros(state, "v", param)
        v -= self.lr * grad                        # BUG: forgot v *= momentum
        param.data += v


class BadMomentumStateOutside(OkMomentum):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.velocity = {}                         # BUG: state_dict() never sees it

    def update_one(self, param, grad, state):
        v = self.velocity.setdefault(id(param), np.zeros_like(param.data))
        v *= self.momentum
        v -= self.lr * grad
        param.data += v


class BadMomentumSkipsZeroGradient(OkMomentum):
    def update_one(self, param, grad, state):
        if not np.any(grad):                       # BUG: "nothing to do" - but v still moves p
            return
        super().update_one(param, grad, state)


class BadMomentumLrAtConstruction(OkMomentum):
    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.step_size = lr                        # BUG: a schedule's opt.lr = ... is ignored

    def update_one(self, param, grad, state):
        v = _zeros(state, "v", param)
        v *= self.momentum
        v -= self.step_size * grad
        param.data += v


class BadMomentumOutOfPlace(OkMomentum):
    def update_one(self, param, grad, state):
        v = _zeros(state, "v", param)
        v *= self.momentum
        v -= self.lr * grad
        param.data = param.data + v                # BUG: a new array, shared views go stale


class BadMomentumIgnoresWeightDecay(OkMomentum):
    decoupled_weight_decay = True                  # BUG: copied from AdamW, decay never applied


def momentum_step(p, g, state, lr, momentum=0.9, weight_decay=0.0):
    v = momentum * state.get("v", 0.0) - lr * (g + weight_decay * p)
    return p + v, {"v": v}


# ---- Adam -----------------------------------------------------------------------------------------


class OkAdam(Optimizer):
    """m, v moments with bias correction: p <- p - lr m^ / (sqrt(v^) + eps)"""

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, beta1=beta1, beta2=beta2,
                         eps=eps)

    def moments(self, param, grad, state):
        m, v = _zeros(state, "m", param), _zeros(state, "v", param)
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        return m, v

    def update_one(self, param, grad, state):
        state["t"] = t = state.get("t", 0) + 1
        m, v = self.moments(param, grad, state)
        m_hat, v_hat = m / (1 - self.beta1 ** t), v / (1 - self.beta2 ** t)
        param.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class BadAdamStepNeverAdvanced(OkAdam):
    def update_one(self, param, grad, state):
        t = state.get("t", 0) + 1                  # BUG: never stored back
        m, v = self.moments(param, grad, state)
        m_hat, v_hat = m / (1 - self.beta1 ** t), v / (1 - self.beta2 ** t)
        param.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class BadAdamNoBiasCorrection(OkAdam):
    def update_one(self, param, grad, state):
        m, v = self.moments(param, grad, state)    # BUG: no m^, v^
        param.data -= self.lr * m / (np.sqrt(v) + self.eps)


class BadAdamBiasCorrectsOnlyM(OkAdam):
    def update_one(self, param, grad, state):
        state["t"] = t = state.get("t", 0) + 1
        m, v = self.moments(param, grad, state)
        param.data -= self.lr * (m / (1 - self.beta1 ** t)) / (np.sqrt(v) + self.eps)   # BUG


class BadAdamGlobalStepCounter(OkAdam):
    def update_one(self, param, grad, state):
        t = self.iterations + 1                    # BUG: counts step() calls, also those
        m, v = self.moments(param, grad, state)    # before a restore sets iterations... and
        m_hat, v_hat = m / (1 - self.beta1 ** t), v / (1 - self.beta2 ** t)   # per parameter
        param.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class BadAdamFloat64State(OkAdam):
    def moments(self, param, grad, state):
        if "m" not in state:
            state["m"] = np.zeros(param.data.shape)   # BUG: float64 moments for float32 p
            state["v"] = np.zeros(param.data.shape)
        return super().moments(param, grad, state)


def adam_step(p, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * p
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    p = p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return p, {"t": t, "m": m, "v": v}


# ---- AdaGrad and RMSprop ------------------------------------------------------------------------


class OkRMSprop(Optimizer):
    """h <- rho h + (1 - rho) g^2;  p <- p - lr g / (sqrt(h) + eps)"""

    def __init__(self, params, lr=0.01, rho=0.9, eps=1e-7, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, rho=rho, eps=eps)

    def update_one(self, param, grad, state):
        h = _zeros(state, "h", param)
        h *= self.rho
        h += (1 - self.rho) * grad * grad
        param.data -= self.lr * grad / (np.sqrt(h) + self.eps)


class BadRMSpropSwappedDecay(OkRMSprop):
    def update_one(self, param, grad, state):
        h = _zeros(state, "h", param)
        h *= 1 - self.rho                          # BUG: rho and 1 - rho swapped
        h += self.rho * grad * grad
        param.data -= self.lr * grad / (np.sqrt(h) + self.eps)


class BadRMSpropEpsInsideSqrt(OkRMSprop):
    def update_one(self, param, grad, state):
        h = _zeros(state, "h", param)
        h *= self.rho
        h += (1 - self.rho) * grad * grad
        param.data -= self.lr * grad / np.sqrt(h + self.eps)   # BUG: not the declared formula


def rmsprop_step(p, g, state, lr, rho=0.9, eps=1e-7, weight_decay=0.0):
    g = g + weight_decay * p
    h = rho * state.get("h", 0.0) + (1 - rho) * g * g
    return p - lr * g / (np.sqrt(h) + eps), {"h": h}


class OkAdaGrad(Optimizer):
    """h <- h + g^2;  p <- p - lr g / (sqrt(h) + eps)"""

    def __init__(self, params, lr=0.01, eps=1e-7, weight_decay=0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay, eps=eps)

    def update_one(self, param, grad, state):
        h = _zeros(state, "h", param)
        h += grad * grad
        param.data -= self.lr * grad / (np.sqrt(h) + self.eps)


class BadAdaGradModifiesGradient(OkAdaGrad):
    def update_one(self, param, grad, state):
        h = _zeros(state, "h", param)
        h += grad * grad
        grad /= np.sqrt(h) + self.eps              # BUG: the array may be param.grad itself
        param.data -= self.lr * grad


def adagrad_step(p, g, state, lr, eps=1e-7, weight_decay=0.0):
    g = g + weight_decay * p
    h = state.get("h", 0.0) + g * g
    return p - lr * g / (np.sqrt(h) + eps), {"h": h}


MOMENTUM = OptimizerCheck(kwargs={"momentum": 0.8, "weight_decay": 0.1}, step=momentum_step)
ADAM = OptimizerCheck(kwargs={"beta1": 0.8, "beta2": 0.9, "weight_decay": 0.05}, step=adam_step)
RMSPROP = OptimizerCheck(kwargs={"rho": 0.8, "eps": 0.1}, step=rmsprop_step)
ADAGRAD = OptimizerCheck(kwargs={"weight_decay": 0.1}, step=adagrad_step)


@hookimpl
def register_optimizers():
    return [Component(name, obj, check=check) for name, obj, check in [
        ("OkMomentum", OkMomentum, MOMENTUM),
        ("BadMomentumNeverDecayed", BadMomentumNeverDecayed, MOMENTUM),
        ("BadMomentumStateOutside", BadMomentumStateOutside, MOMENTUM),
        ("BadMomentumSkipsZeroGradient", BadMomentumSkipsZeroGradient, MOMENTUM),
        ("BadMomentumLrAtConstruction", BadMomentumLrAtConstruction, MOMENTUM),
        ("BadMomentumOutOfPlace", BadMomentumOutOfPlace, MOMENTUM),
        ("BadMomentumIgnoresWeightDecay", BadMomentumIgnoresWeightDecay, MOMENTUM),
        ("OkAdam", OkAdam, ADAM),
        ("BadAdamStepNeverAdvanced", BadAdamStepNeverAdvanced, ADAM),
        ("BadAdamNoBiasCorrection", BadAdamNoBiasCorrection, ADAM),
        ("BadAdamBiasCorrectsOnlyM", BadAdamBiasCorrectsOnlyM, ADAM),
        ("BadAdamGlobalStepCounter", BadAdamGlobalStepCounter, ADAM),
        ("BadAdamFloat64State", BadAdamFloat64State, ADAM),
        ("OkRMSprop", OkRMSprop, RMSPROP),
        ("BadRMSpropSwappedDecay", BadRMSpropSwappedDecay, RMSPROP),
        ("BadRMSpropEpsInsideSqrt", BadRMSpropEpsInsideSqrt, RMSPROP),
        ("OkAdaGrad", OkAdaGrad, ADAGRAD),
        ("BadAdaGradModifiesGradient", BadAdaGradModifiesGradient, ADAGRAD),
    ]]
