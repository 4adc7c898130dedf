"""Datasets: MNIST / Fashion-MNIST loading, the embedded MNIST sample, preprocessing, DataLoader.

    from tinygrad_edu.data import load_mnist, load_mnist_arrays, DataLoader

    data = load_mnist()                 # full MNIST if found locally, else the embedded sample
    print(data.source)
    (x_train, t_train), (x_test, t_test) = load_mnist_arrays(normalize=True, flatten=True)
    for x_batch, t_batch in DataLoader(x_train, t_train, batch_size=100, shuffle=True, seed=0):
        ...
"""

from .idx import DatasetError, read_idx, read_images, read_labels
from .loader import DataLoader
from .mnist import MNIST, cache_directory, find_mnist_files, load_mnist, load_mnist_arrays, load_sample
from .preprocess import flatten_images, images_to_nchw, normalize_images, one_hot, preprocess

__all__ = [
    "DataLoader",
    "DatasetError",
    "MNIST",
    "cache_directory",
    "find_mnist_files",
    "flatten_images",
    "images_to_nchw",
    "load_mnist",
    "load_mnist_arrays",
    "load_sample",
    "normalize_images",
    "one_hot",
    "preprocess",
    "read_idx",
    "read_images",
    "read_labels",
]
