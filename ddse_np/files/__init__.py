"""Files: the one atomic-write helper every output goes through, and HDF5 checkpoints.

Imports :mod:`ddse_np.nn` (a checkpoint rebuilds its model); nothing above it.
"""
