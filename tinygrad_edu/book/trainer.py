"""The book's ``common/trainer.py``: train a network with mini-batches and report accuracy.

    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20,
                      mini_batch_size=100, optimizer='Adam', optimizer_param={'lr': 0.001},
                      evaluate_sample_num_per_epoch=1000)
    trainer.train()
    trainer.train_acc_list, trainer.test_acc_list    # one entry per epoch

Each iteration draws ``mini_batch_size`` random samples (with replacement, from numpy's global
random state, like the book), computes ``network.gradient`` -- backpropagation by the
framework -- and calls ``optimizer.update(network.params, grads)``. With ``verbose=True`` it
prints the book's lines::

    train loss:2.2990...
    === epoch:1, train acc:0.102, test acc:0.098 ===
    =============== Final Test Accuracy ===============
    test acc:0.9012
"""
from __future__ import annotations

import numpy as np

from tinygrad_edu.book.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop

__all__ = ["Trainer"]

OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSprop, "rmsprpo": RMSprop,   # the book's typo, kept working
              "adam": Adam}


class Trainer:
    """Trains ``network`` (anything with ``params``, ``gradient``, ``loss`` and ``accuracy``)
    for ``epochs`` epochs of ``train_size / mini_batch_size`` iterations.

    optimizer        a name ('SGD', 'Momentum', 'Nesterov', 'AdaGrad', 'RMSprop', 'Adam';
                     any case) built with ``optimizer_param``, or an optimizer object with
                     ``update(params, grads)``
    evaluate_sample_num_per_epoch
                     accuracy at each epoch on only the first this-many train and test samples
                     (None: all of them)
    verbose          print the loss of every iteration and the accuracies of every epoch
    """

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},   # noqa: B006 (book's default; never mutated)
                 evaluate_sample_num_per_epoch=None, verbose=True):
        self.network = network
        self.verbose = verbose
        self.x_train = x_train
        self.t_train = t_train
        self.x_test = x_test
        self.t_test = t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        if isinstance(optimizer, str):
            key = optimizer.lower()
            if key not in OPTIMIZERS:
                raise ValueError(f"Trainer: unknown optimizer {optimizer!r}; choose one of "
                                 f"SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam")
            self.optimizer = OPTIMIZERS[key](**optimizer_param)
        elif hasattr(optimizer, "update"):
            self.optimizer = optimizer
        else:
            raise TypeError(f"Trainer: optimizer must be a name or an object with "
                            f"update(params, grads), got {optimizer!r}")

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def train_step(self):
        """One iteration: a random mini-batch, its gradient, an update; at the start of each
        epoch also the train and test accuracy."""
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            print("train loss:" + str(loss))

        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            if self.evaluate_sample_num_per_epoch is not None:
                n = self.evaluate_sample_num_per_epoch
                x_train_sample, t_train_sample = self.x_train[:n], self.t_train[:n]
                x_test_sample, t_test_sample = self.x_test[:n], self.t_test[:n]

            train_acc = self.network.accuracy(x_train_sample, t_train_sample)
            test_acc = self.network.accuracy(x_test_sample, t_test_sample)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose:
                print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                      + ", test acc:" + str(test_acc) + " ===")
        self.current_iter += 1

    def train(self):
        """Run all ``max_iter`` iterations, then report the accuracy on the whole test set."""
        for _ in range(self.max_iter):
            self.train_step()

        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
