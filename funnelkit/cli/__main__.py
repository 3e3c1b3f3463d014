"""``python -m funnelkit.cli``: the ``funnelkit`` command line."""

from funnelkit.cli import main

if __name__ == "__main__":  # importing the module (e.g. to read its docs) runs nothing
    raise SystemExit(main())
