"""Training: every setting of a run, momentum SGD and the schedules, batches, the training loop,
one run from start to end, stop requests, recipe files.

Imports :mod:`ddse_np.files`, :mod:`ddse_np.nn`, :mod:`ddse_np.data`; nothing above it.
"""
