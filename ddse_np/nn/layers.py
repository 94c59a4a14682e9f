"""Primitives as forward/backward pairs (cs231n style), backend-agnostic.

Each ``*_forward`` returns ``(out, cache)``; each ``*_backward`` takes the
upstream gradient and that cache and returns the gradients of the inputs.
Letters follow docs/design.md: N batch, n input size, m code size, C classes.
The derivations are in docs/gradients.md.
"""

from __future__ import annotations

from ..backend import array_module
from ..fast import add_matmul_t


def linear_forward(X, W):
    """Y = X W^T.

    X : N x a,  W : b x a  ->  Y : N x b ;  cache = (X, W)
    W may also be a CSR sparse matrix (scipy or cupyx), for evaluation with
    sparse products (``ddse eval --sparse``): then Y = (W X^T)^T and the cache is
    None, so there is no backward (such a model can be evaluated, not trained).
    """
    if hasattr(W, "tocsr"):
        return (W @ X.T).T, None
    return X @ W.T, (X, W)


def linear_backward(dY, cache, need_dX=True, dW=None):
    """Gradients of Y = X W^T.

    dY : N x b  ->  dX = dY W : N x a (None if not needed),  dW = dY^T X : b x a
    When ``dW`` is given (W's gradient buffer, b x a), dY^T X is *added* into it
    in place, straight from the product (:func:`ddse_np.fast.add_matmul_t`),
    and that same array is returned.
    """
    X, W = cache
    dX = dY @ W if need_dX else None
    if dW is None:
        return dX, dY.T @ X
    return dX, add_matmul_t(dW, dY, X)


def shrink_forward(V, theta):
    """Soft shrinkage Z = sign(V) * max(|V| - theta, 0), the paper's N(u) of eq. (2).

    V : N x m,  theta : m (>= 0 per unit)  ->  Z : N x m ;  cache = Z

    Computed in two passes as Z = V - clip(V, -theta, theta): above theta
    that is V - theta, inside [-theta, theta] it is 0, below -theta V + theta.
    The output alone determines the backward pass: the unit is active
    (|V| > theta) exactly where Z != 0, and there sign(V) = sign(Z).
    theta >= 0 is a precondition, not checked here (a negative theta would shift V
    instead of shrinking it): the models refuse a negative start and training clips
    theta at 0 after every step.  Z is also the cache: do not modify it in place.
    """
    xp = array_module(V)
    Z = xp.clip(V, -theta, theta)
    xp.subtract(V, Z, out=Z)
    return Z, Z


def shrink_backward(dZ, cache):
    """Gradients of soft shrinkage.

    dZ : N x m  ->  dV = dZ * [Z != 0] : N x m,  dtheta = -sum_N dZ * sign(Z) : m
    """
    xp = array_module(dZ)
    Z = cache
    dV = dZ * (Z != 0)
    dtheta = -(dZ * xp.sign(Z)).sum(axis=0)
    return dV, dtheta


def softmax_xent_forward(logits, y):
    """Mean softmax cross-entropy, in nats.

    logits : N x C,  y : N integer labels in 0..C-1  ->  loss (0-d array) ;  cache = (P, y)
    P is the softmax, computed stably by subtracting each row's maximum.  The labels'
    range is not checked here (a negative label would index from the end):
    :meth:`ddse_np.nn.models.base.Model.loss_and_grads` checks it.
    """
    xp = array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_norm
    rows = xp.arange(len(y))
    loss = -log_p[rows, y].mean()
    return loss, (xp.exp(log_p), y)


def softmax_xent_backward(cache):
    """dloss/dlogits = (P - onehot(y)) / N : N x C."""
    xp = array_module(cache[0])
    P, y = cache
    dlogits = P.copy()
    dlogits[xp.arange(len(y)), y] -= 1
    dlogits /= len(y)
    return dlogits


def relu_forward(V):
    """Z = max(V, 0).   V : N x m  ->  Z : N x m ;  cache = Z (do not modify Z in place)."""
    Z = V.copy()
    array_module(V).maximum(Z, 0, out=Z)
    return Z, Z


def relu_backward(dZ, cache):
    """dZ : N x m  ->  dV = dZ * [Z > 0] : N x m (the subgradient 0 at V = 0)."""
    return dZ * (cache > 0)


def dropout_forward(H, p, uniform):
    """Inverted dropout (Srivastava et al., JMLR 2014): each unit kept with probability 1 - p,
    kept units scaled by 1/(1 - p).

    H : N x m,  p in [0, 1),  uniform : N x m draws in [0, 1)  ->  Y : N x m ;
    cache = M / (1 - p) : N x m, in H's dtype.
    At evaluation no dropout is applied (the scaling already matches expectations).
    """
    scaled_mask = (uniform >= p) * H.dtype.type(1.0 / (1.0 - p))
    return H * scaled_mask, scaled_mask


def dropout_backward(dY, cache):
    """dY : N x m  ->  dH = dY * M / (1 - p) : N x m."""
    return dY * cache


def dropconnect_forward(X, W, p, uniform):
    """DropConnect (Wan et al., ICML 2013): Y = X (W * M)^T / (1 - p), each weight kept with
    probability 1 - p.

    X : N x a,  W : b x a,  p in [0, 1),  uniform : b x a draws in [0, 1)  ->  Y : N x b ;
    cache = (X, W * M / (1 - p), M / (1 - p)).
    One mask per batch (as in Wan et al.'s efficient implementation); none at evaluation.
    """
    scaled_mask = (uniform >= p) * W.dtype.type(1.0 / (1.0 - p))
    W_masked = W * scaled_mask
    return X @ W_masked.T, (X, W_masked, scaled_mask)


def dropconnect_backward(dY, cache):
    """dY : N x b  ->  dX = dY (W * M)/(1 - p) : N x a,  dW = (dY^T X) * M/(1 - p) : b x a.

    dW is a fresh array (the caller adds it into the gradient buffer), unlike
    :func:`linear_backward`'s accumulating ``dW``.
    """
    X, W_masked, scaled_mask = cache
    return dY @ W_masked, (dY.T @ X) * scaled_mask
