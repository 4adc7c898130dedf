# coding: utf-8
# Chapter 6 in the book's style: optimizers on f(x, y) = x**2 / 20 + y**2, parameters as plain floats.
from collections import OrderedDict
from tinygrad_edu.book import *


def f(x, y):
    return x**2 / 20.0 + y**2


def df(x, y):
    return x / 10.0, 2.0*y


init_pos = (-7.0, 2.0)
params = {}
params['x'], params['y'] = init_pos[0], init_pos[1]
grads = {}
grads['x'], grads['y'] = 0, 0

optimizers = OrderedDict()
optimizers["SGD"] = SGD(lr=0.95)
optimizers["Momentum"] = Momentum(lr=0.1)
optimizers["Nesterov"] = Nesterov(lr=0.1)
optimizers["AdaGrad"] = AdaGrad(lr=1.5)
optimizers["RMSprop"] = RMSprop(lr=0.1)
optimizers["Adam"] = Adam(lr=0.3)

histories = {}
for key in optimizers:
    optimizer = optimizers[key]
    x_history = []
    y_history = []
    params['x'], params['y'] = init_pos[0], init_pos[1]

    for i in range(30):
        x_history.append(params['x'])
        y_history.append(params['y'])

        grads['x'], grads['y'] = df(params['x'], params['y'])
        optimizer.update(params, grads)

    histories[key] = (x_history, y_history)
    print(key + ": x=" + str(params['x']) + ", y=" + str(params['y'])
          + ", f=" + str(f(params['x'], params['y'])))
