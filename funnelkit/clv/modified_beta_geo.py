"""MBG/NBD: BG/NBD in which customers may also drop out right after their first purchase."""

from __future__ import annotations

from funnelkit.clv._geometric import BetaGeometricFitter, limits_of

__all__ = ["ModifiedBetaGeoFitter"]


class ModifiedBetaGeoFitter(BetaGeometricFitter):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    As :class:`~funnelkit.clv.BetaGeoFitter` -- purchase rate ``lambda ~ Gamma(r, alpha)``,
    dropout probability ``p ~ Beta(a, b)`` -- except that the first dropout chance comes
    straight after the first (trial) purchase. Customers without repeat purchases can
    therefore be inactive, which removes the BG/NBD artefact that such customers are always
    "alive". Time is measured in the fitted unit.

    The likelihood (Batislam et al. 2007, eq. 6) is evaluated in log space on unique rows with
    its analytic gradient.

    Examples
    --------
    >>> from funnelkit.clv import ModifiedBetaGeoFitter
    >>> from funnelkit.datasets.btyd import simulate_mbgnbd
    >>> sim = simulate_mbgnbd(2000, T=52.0, seed=2)
    >>> model = ModifiedBetaGeoFitter().fit(sim.rfm)
    >>> bool((model.probability_alive() < 1).all())
    True

    References
    ----------
    .. [1] Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). Empirical validation and
       comparison of models for customer base analysis. *International Journal of Research in
       Marketing* 24(3), 201-209.
    .. [2] Wagner, U. & Hoppe, D. (2008). Erratum on the MBG/NBD model. *International
       Journal of Research in Marketing* 25(3), 225-226.
    """

    _model_name = "MBG/NBD"
    _first_purchase_dropout = 1
    _limits = limits_of(1)
