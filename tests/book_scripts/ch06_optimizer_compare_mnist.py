# coding: utf-8
# Chapter 6 in the book's style: SGD, Momentum, AdaGrad and Adam on MultiLayerNet (MNIST).
# (np comes from the star import, as it does in the book's script.)
from tinygrad_edu.book import load_mnist, smooth_curve, MultiLayerNet
from tinygrad_edu.book import *

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

train_size = x_train.shape[0]
batch_size = 128
max_iterations = 201

optimizers = {}
optimizers['SGD'] = SGD()
optimizers['Momentum'] = Momentum()
optimizers['AdaGrad'] = AdaGrad()
optimizers['Adam'] = Adam()

networks = {}
train_loss = {}
for key in optimizers.keys():
    networks[key] = MultiLayerNet(
        input_size=784, hidden_size_list=[50, 50, 50],
        output_size=10)
    train_loss[key] = []

for i in range(max_iterations):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    for key in optimizers.keys():
        grads = networks[key].gradient(x_batch, t_batch)
        optimizers[key].update(networks[key].params, grads)

        loss = networks[key].loss(x_batch, t_batch)
        train_loss[key].append(loss)

    if i % 100 == 0:
        print("===========" + "iteration:" + str(i) + "===========")
        for key in optimizers.keys():
            loss = networks[key].loss(x_batch, t_batch)
            print(key + ":" + str(loss))

smoothed = {key: smooth_curve(train_loss[key]) for key in optimizers.keys()}
test_acc = {key: networks[key].accuracy(x_test, t_test) for key in optimizers.keys()}
print(test_acc)
