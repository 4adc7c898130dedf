# coding: utf-8
# Chapter 7 in the book's style: SimpleConvNet trained for a few iterations by the Trainer, then saved.
import numpy as np
from tinygrad_edu.book import load_mnist, SimpleConvNet, Trainer

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)

x_train, t_train = x_train[:1000], t_train[:1000]
x_test, t_test = x_test[:200], t_test[:200]

max_epochs = 2
network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01)

trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=max_epochs, mini_batch_size=100,
                  optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=200)
trainer.train()

network.save_params("params.pkl")
print("Saved Network Parameters!")

train_acc_list, test_acc_list = trainer.train_acc_list, trainer.test_acc_list
