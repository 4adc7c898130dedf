# coding: utf-8
# Chapter 6 in the book's style: a small training set, MultiLayerNetExtend with Dropout, Batch
# Normalization and weight decay, trained by the Trainer.
import numpy as np
from tinygrad_edu.book import load_mnist, MultiLayerNetExtend, Trainer

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

x_train = x_train[:300]
t_train = t_train[:300]
x_test = x_test[:500]
t_test = t_test[:500]

use_dropout = True
dropout_ratio = 0.2

network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100, 100],
                              output_size=10, use_dropout=use_dropout, dropout_ration=dropout_ratio,
                              use_batchnorm=True, weight_decay_lambda=0.001)
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=8, mini_batch_size=100,
                  optimizer='sgd', optimizer_param={'lr': 0.05}, verbose=True)
trainer.train()

train_acc_list, test_acc_list = trainer.train_acc_list, trainer.test_acc_list
