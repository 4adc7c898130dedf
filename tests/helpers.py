"""Helpers shared by several test files (``from helpers import ...``: pytest puts tests/ on
sys.path, as tests/ is not a package)."""
import numpy as np


def naive_conv2d(x, w, b, stride, pad):
    """The reference convolution, one output value at a time:
    y[n, f, i, j] = b[f] + sum_{c,dy,dx} w[f, c, dy, dx] xpad[n, c, i*stride + dy, j*stride + dx]
    with xpad = x zero-padded by ``pad`` on each side; x (N, C, H, W), w (FN, C, FH, FW), b (FN,)."""
    N, C, H, W = x.shape
    FN, _, FH, FW = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    OH, OW = (H + 2 * pad - FH) // stride + 1, (W + 2 * pad - FW) // stride + 1
    out = np.zeros((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for i in range(OH):
                for j in range(OW):
                    patch = xp[n, :, i * stride:i * stride + FH, j * stride:j * stride + FW]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    return out
