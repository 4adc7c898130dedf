# coding: utf-8
# Chapter 5 in the book's style: check backpropagation against numerical differentiation.
import numpy as np
from tinygrad_edu.book import load_mnist, TwoLayerNet

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

# a narrow hidden layer keeps the numerical gradient (two losses per weight) quick
network = TwoLayerNet(input_size=784, hidden_size=10, output_size=10)

x_batch = x_train[:3]
t_batch = t_train[:3]

grad_numerical = network.numerical_gradient(x_batch, t_batch)
grad_backprop = network.gradient(x_batch, t_batch)

diffs = {}
for key in grad_numerical.keys():
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    diffs[key] = diff
    print(key + ":" + str(diff))
