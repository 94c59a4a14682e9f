"""Primitives as forward/backward pairs (cs231n style), backend-agnostic.

Each ``*_forward`` returns ``(out, cache)``; each ``*_backward`` takes the
upstream gradient and that cache and returns the gradients of the inputs.
Letters follow DESIGN.md: N batch, n input size, m code size, C classes.
The derivations are in docs/gradients.md.
"""
from __future__ import annotations

from .backend import array_module


def linear_forward(X, W):
    """Y = X W^T.

    X : N x a,  W : b x a  ->  Y : N x b ;  cache = (X, W)
    """
    return X @ W.T, (X, W)


def linear_backward(dY, cache, need_dX=True):
    """Gradients of Y = X W^T.

    dY : N x b  ->  dX = dY W : N x a (None if not needed),  dW = dY^T X : b x a
    """
    X, W = cache
    dX = dY @ W if need_dX else None
    return dX, dY.T @ X


def shrink_forward(V, theta):
    """Soft shrinkage Z = sign(V) * max(|V| - theta, 0), theta >= 0 per unit.

    V : N x m,  theta : m  ->  Z : N x m ;  cache = Z

    The output alone determines the backward pass: the unit is active
    (|V| > theta) exactly where Z != 0, and there sign(V) = sign(Z).
    """
    xp = array_module(V)
    Z = xp.abs(V)
    Z -= theta
    xp.maximum(Z, 0, out=Z)
    Z *= xp.sign(V)
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
    """Mean softmax cross-entropy.

    logits : N x C,  y : N integer labels  ->  loss (0-d array) ;  cache = (P, y)
    P is the softmax, computed stably by subtracting each row's maximum.
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
