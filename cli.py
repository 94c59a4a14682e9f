"""Run the ``ddse`` command from a checkout without installing it: ``python cli.py train ...``.

The command lives in :mod:`ddse_np.cli`; an installed ``ddse`` script and ``python -m ddse_np``
run the same entry point, :func:`ddse_np.__main__.main`.  This file is not part of the
installed package.
"""

from ddse_np.__main__ import main

if __name__ == "__main__":
    main()
