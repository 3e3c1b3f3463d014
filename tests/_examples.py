"""Fixed or fresh examples for the property tests that CI runs derandomized.

The fuzz tests of every entry point draw the same examples in every CI run: a red run is then
reproducible, and a green one means what it meant before. Fixed examples miss rare inputs,
though, and those are what fuzzing is for. ``FUNNELKIT_FRESH_EXAMPLES=1`` makes these tests
draw fresh random examples instead; run it now and then, and after changing an estimator::

    FUNNELKIT_FRESH_EXAMPLES=1 pytest -n 2 -m "not slow" tests/clv/test_fuzz.py

hypothesis prints the failing example, and ``--hypothesis-seed=N`` draws a run's examples
again.
"""

from __future__ import annotations

import os

#: fresh random examples in this run (``FUNNELKIT_FRESH_EXAMPLES`` set, and not to 0)
FRESH = os.environ.get("FUNNELKIT_FRESH_EXAMPLES", "") not in {"", "0"}

#: the ``derandomize`` setting of the tests that CI runs on fixed examples
DERANDOMIZE = not FRESH
