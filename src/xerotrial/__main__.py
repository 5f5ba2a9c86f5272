"""``python -m xerotrial``: the ``xerotrial`` command (see :mod:`xerotrial.cli`)."""

from xerotrial.cli import main

if __name__ == "__main__":
    main()
