# coding: utf-8
# Parameters saved the book's way (a pickled dict of arrays) load into the networks, and
# save_params writes that same format.
import pickle
import numpy as np
from tinygrad_edu.book import load_mnist, SimpleConvNet, TwoLayerNet

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
x = x_test[:50]

# a file written by the book's own code: pickle.dump of a dict of float64 arrays
source = SimpleConvNet(input_dim=(1, 28, 28),
                       conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                       hidden_size=100, output_size=10, weight_init_std=0.05)
book_params = {key: val.copy() for key, val in source.params.items()}
with open("book_params.pkl", 'wb') as f:
    pickle.dump(book_params, f)

network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01)
W1_before = network.params['W1']
network.load_params("book_params.pkl")
same_prediction = np.allclose(network.predict(x), source.predict(x))
print("same prediction after load_params:", same_prediction)
print("params['W1'] is still the same array:", network.params['W1'] is W1_before)

# save_params writes the book's format: a plain dict of numpy arrays
network.save_params("params.pkl")
with open("params.pkl", 'rb') as f:
    saved = pickle.load(f)
print(type(saved).__name__, sorted(saved.keys()), saved['W1'].dtype)

# a file of another network is refused and changes nothing
small = TwoLayerNet(input_size=784, hidden_size=10, output_size=10)
small.save_params("small.pkl")
W1_copy = network.params['W1'].copy()
try:
    network.load_params("small.pkl")
    refused = False
except ValueError as error:
    refused = True
    print("refused:", error)
untouched = np.array_equal(W1_copy, network.params['W1'])
print("untouched:", untouched)
