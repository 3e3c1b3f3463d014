"""``python -m funnelkit.cli``: the ``funnelkit`` command line."""

from funnelkit.cli import main

raise SystemExit(main())
