"""Experiments: the sweeps behind the paper's figures, running their jobs (local processes or
Dask), their results files, reports and figures.

Imports :mod:`ddse_np.training` and below; only :mod:`ddse_np.cli` imports it.
"""
