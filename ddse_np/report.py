"""What ``ddse inspect`` reports: sparsity per matrix, parameter counts, size, code sparsity."""
from __future__ import annotations

import os

from .backend import to_host
from .evaluate import code_zero_fraction
from .sparsity import count_nonzeros


def describe(model, path, X) -> dict:
    """A JSON-ready report of ``model`` loaded from ``path``; X : N x n test inputs for Z_k.

    For sparse models (DDSE, baseline V): per constrained matrix its shape, nonzeros and the
    largest count per row/column against s, and the paper's (2k+1)*s*m against the dense
    mn + k*m^2.  For every model: the dense parameter count, file size, zeros in Z_k.
    """
    c = model.config
    n, m, k, s = c["n"], c["m"], c["k"], c["s"]
    matrices, stored = [], 0
    for name, axis in model.constraints.items():
        W = to_host(model.params[name])
        per_line = count_nonzeros(W, axis)
        stored += int(per_line.sum())
        matrices.append(dict(name=name, shape=list(W.shape), nonzeros=int(per_line.sum()),
                             axis=axis, max_per_line=int(per_line.max()), s=s,
                             within_constraint=bool(per_line.max() <= s)))
    counts = dict(total_parameters=model.parameter_count(), dense_lista=m * n + k * m * m)
    if matrices:
        counts.update(paper_constrained=(2 * k + 1) * s * m, stored_nonzeros=stored)
    return dict(checkpoint=str(path), config=c, matrices=matrices, counts=counts,
                file_bytes=os.path.getsize(path), code_images=int(len(X)),
                code_zero_fraction=code_zero_fraction(model, X))
