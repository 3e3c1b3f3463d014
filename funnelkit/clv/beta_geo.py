"""BG/NBD: the beta-geometric / negative binomial distribution model of repeat purchasing."""

from __future__ import annotations

from funnelkit.clv._geometric import BetaGeometricFitter

__all__ = ["BetaGeoFitter"]


class BetaGeoFitter(BetaGeometricFitter):
    """BG/NBD model (Fader, Hardie & Lee 2005) for non-contractual repeat purchasing.

    While alive, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after each
    purchase they drop out with probability ``p ~ Beta(a, b)``. ``frequency`` is the number
    of repeat purchases, ``recency`` the time of the last one and ``T`` the customer's age, all
    measured from the first purchase in the fitted time unit (``alpha`` is in that unit too).

    The likelihood (FHL 2005, eq. 6) is evaluated in log space on unique ``(frequency, recency,
    T)`` rows, with its analytic gradient; see :class:`~funnelkit.clv._base.MLEFitter` for the
    settings (``penalizer``, ``conf_level``, ``initial_params``, ``max_iter``).

    Examples
    --------
    >>> from funnelkit.clv import BetaGeoFitter
    >>> from funnelkit.datasets.btyd import simulate_bgnbd
    >>> sim = simulate_bgnbd(2000, T=52.0, seed=1, time_unit="W")
    >>> model = BetaGeoFitter().fit(sim.rfm)
    >>> sorted(model.params_)
    ['a', 'alpha', 'b', 'r']
    >>> model.expected_purchases(t=10.0).shape
    (2000,)
    >>> bool(((model.probability_alive() > 0) & (model.probability_alive() <= 1)).all())
    True

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science* 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) using the
       BG/NBD model. http://brucehardie.com/notes/021/
    """

    _model_name = "BG/NBD"
    _first_purchase_dropout = 0
