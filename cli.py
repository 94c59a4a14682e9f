"""Run the ``ddse`` command from a checkout without installing it: ``python cli.py train ...``.

The command lives in :mod:`ddse_np.cli`; an installed ``ddse`` script runs the same
:func:`ddse_np.cli.main`.  This file is not part of the installed package.
"""
from ddse_np.cli import cli, main

if __name__ == "__main__":
    main()
