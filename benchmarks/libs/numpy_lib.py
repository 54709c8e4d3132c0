"""By hand: every forward and backward pass written out (plain floats for scalars, NumPy for
arrays), in the book's style. The floor a graph engine's overhead is measured against."""

import numpy as np

from benchmarks import workloads as W


def version() -> str:
    return np.__version__


def apple():
    def run(check=False):
        a, an, o, on, tax = W.APPLE
        apple_price, orange_price = a * an, o * on
        total = apple_price + orange_price
        _price = total * tax
        dtotal, dtax = tax, total
        return [dtotal * an, dtotal * a, dtotal * on, dtotal * o, dtax] if check else None

    return run


def scalar():
    def run(check=False):
        y, kept = 0.5, []
        for _ in range(W.SCALAR_OPS // 3):
            v = y * 1.0001 + 0.0001
            kept.append(v)
            y = v if v > 0 else 0.0
        g = 1.0
        for v in reversed(kept):
            g = g * 1.0001 if v > 0 else 0.0
        return [g] if check else None

    return run


def matrix():
    W0, b0, x0 = W.matrix_data()

    def run(check=False):
        xs, ys, y = [], [], x0
        for _ in range(W.MATRIX_OPS // 3):
            xs.append(y)
            y = np.tanh(y @ W0 + b0)
            ys.append(y)
        g = np.ones_like(y)
        gW, gb = np.zeros_like(W0), np.zeros_like(b0)
        WT = W0.T
        for x, y in zip(reversed(xs), reversed(ys)):
            g = g * (1 - y * y)
            gb += g.sum(axis=0)
            gW += x.T @ g
            g = g @ WT
        return [float(gW.sum()), float(gb.sum())] if check else None

    return run


def _cross_entropy(z, t):
    """Mean softmax cross-entropy and its gradient for the logits."""
    n = len(t)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    dz = np.exp(log_p)
    dz[np.arange(n), t] -= 1
    return -log_p[np.arange(n), t].mean(), dz / n


def mlp():
    d = W.mlp_data()
    W1, b1, W2, b2 = (d[k].copy() for k in ("W1", "b1", "W2", "b2"))
    x, t = d["x"], d["t"]

    def step(check=False):
        a1 = x @ W1 + b1
        h = np.maximum(a1, 0)
        loss, dz = _cross_entropy(h @ W2 + b2, t)
        dW2, db2 = h.T @ dz, dz.sum(axis=0)
        da1 = (dz @ W2.T) * (a1 > 0)
        dW1, db1 = x.T @ da1, da1.sum(axis=0)
        out = ([float(loss)] + [W.norm(g) for g in (dW1, db1, dW2, db2)]) if check else None
        for p, g in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            p -= W.LR * g
        return out

    return step


def mlp_memory():
    return W.repeated(mlp())


def _im2col(x, fh, fw, stride=1):
    """The book's im2col: (N, C, H, W) -> (N·OH·OW, C·FH·FW), a loop over filter offsets."""
    n, c, h, w = x.shape
    oh, ow = (h - fh) // stride + 1, (w - fw) // stride + 1
    col = np.zeros((n, c, fh, fw, oh, ow), dtype=x.dtype)
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j] = x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1), oh, ow


def _col2im(col, shape, fh, fw, stride=1):
    n, c, h, w = shape
    oh, ow = (h - fh) // stride + 1, (w - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    x = np.zeros(shape, dtype=col.dtype)
    for i in range(fh):
        for j in range(fw):
            x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, i, j]
    return x


def cnn():
    d = W.cnn_data()
    params = {k: d[k].copy() for k in ("W1", "b1", "W2", "b2", "W3", "b3")}
    x, t = d["x"], d["t"]
    n = len(x)

    def step(check=False):
        P = params
        fn = P["W1"].shape[0]
        col, oh, ow = _im2col(x, 5, 5)
        w_col = P["W1"].reshape(fn, -1).T
        conv = (col @ w_col + P["b1"]).reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)
        r1 = np.maximum(conv, 0)
        pcol, ph, pw = _im2col(r1, 2, 2, stride=2)
        pcol = pcol.reshape(-1, 4)
        arg = pcol.argmax(axis=1)
        pooled = pcol.max(axis=1).reshape(n, ph, pw, fn).transpose(0, 3, 1, 2)
        flat = pooled.reshape(n, -1)
        a2 = flat @ P["W2"] + P["b2"]
        h2 = np.maximum(a2, 0)
        loss, dz = _cross_entropy(h2 @ P["W3"] + P["b3"], t)
        g = {"W3": h2.T @ dz, "b3": dz.sum(axis=0)}
        da2 = (dz @ P["W3"].T) * (a2 > 0)
        g["W2"], g["b2"] = flat.T @ da2, da2.sum(axis=0)
        dpool = (da2 @ P["W2"].T).reshape(pooled.shape).transpose(0, 2, 3, 1)
        dmax = np.zeros((dpool.size, 4), dtype=dpool.dtype)
        dmax[np.arange(arg.size), arg] = dpool.ravel()
        dr1 = _col2im(dmax.reshape(n * ph * pw, -1), r1.shape, 2, 2, stride=2)
        dconv = (dr1 * (conv > 0)).transpose(0, 2, 3, 1).reshape(-1, fn)
        g["b1"] = dconv.sum(axis=0)
        g["W1"] = (col.T @ dconv).T.reshape(P["W1"].shape)
        out = (
            ([float(loss)] + [W.norm(g[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3")]) if check else None
        )
        for k in P:
            P[k] -= W.LR * g[k]
        return out

    return step
