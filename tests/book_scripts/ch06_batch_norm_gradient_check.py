# coding: utf-8
# Chapter 6 in the book's style: gradient check of MultiLayerNetExtend with Batch Normalization.
import numpy as np
from tinygrad_edu.book import load_mnist, MultiLayerNetExtend

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

network = MultiLayerNetExtend(input_size=784, hidden_size_list=[10, 10], output_size=10,
                              use_batchnorm=True)

# (the book uses a batch of one; with more samples no ReLU input sits exactly on its kink at 0)
x_batch = x_train[:4]
t_batch = t_train[:4]

grad_backprop = network.gradient(x_batch, t_batch)
grad_numerical = network.numerical_gradient(x_batch, t_batch)

diffs = {}
for key in grad_numerical.keys():
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    diffs[key] = diff
    print(key + ":" + str(diff))
