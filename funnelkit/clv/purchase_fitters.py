"""Purchase fitters by name: the names ``LifecycleModel(purchase_model=...)`` takes.

:func:`purchase_fitter` builds an unfitted fitter from such a name with settings (a
penalizer, a confidence level): passed as ``purchase_model``, it is the template every fit
of a :class:`~funnelkit.LifecycleModel` copies.
"""

from __future__ import annotations

import difflib
from typing import Any

from funnelkit.clv._base import MLEFitter
from funnelkit.clv.beta_geo import BetaGeoFitter
from funnelkit.clv.modified_beta_geo import ModifiedBetaGeoFitter
from funnelkit.clv.pareto_nbd import ParetoNBDFitter
from funnelkit.exceptions import FunnelkitError

__all__ = ["PURCHASE_FITTERS", "purchase_fitter"]

#: name -> purchase fitter class, for the names ``LifecycleModel(purchase_model=...)`` takes
PURCHASE_FITTERS: dict[str, type[MLEFitter]] = {
    "bgnbd": BetaGeoFitter,
    "mbgnbd": ModifiedBetaGeoFitter,
    "paretonbd": ParetoNBDFitter,
}


def purchase_fitter(name: str, **settings: Any) -> MLEFitter:
    """An unfitted purchase fitter named as ``LifecycleModel(purchase_model=...)`` names it.

    Parameters
    ----------
    name
        ``"bgnbd"`` (BG/NBD), ``"mbgnbd"`` (MBG/NBD) or ``"paretonbd"`` (Pareto/NBD).
    **settings
        Settings of the fitter, e.g. ``penalizer=0.001`` for a fit that does not converge.

    Returns
    -------
    MLEFitter
        The unfitted fitter; as ``LifecycleModel(purchase_model=...)`` it is the template
        every fit (the main one, each group's, each bootstrap sample's) copies.

    Examples
    --------
    >>> from funnelkit import LifecycleModel
    >>> from funnelkit.clv import purchase_fitter
    >>> fitter = purchase_fitter("paretonbd", penalizer=0.001)
    >>> fitter
    ParetoNBDFitter(penalizer=0.001)
    >>> model = LifecycleModel(purchase_model=fitter, n_resamples=0)
    """
    klass = PURCHASE_FITTERS.get(name) if isinstance(name, str) else None
    if klass is None:
        close = difflib.get_close_matches(str(name), list(PURCHASE_FITTERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise FunnelkitError(
            f"Unknown purchase model {name!r}: the names are {list(PURCHASE_FITTERS)}.{hint}"
        )
    known = klass().get_params()
    unknown = sorted(set(settings) - set(known))
    try:
        return klass(**settings)
    except TypeError:
        if not unknown:
            raise
        near = {u: difflib.get_close_matches(u, list(known), n=1) for u in unknown}
        hints = "".join(f" Did you mean {c[0]!r} for {u!r}?" for u, c in near.items() if c)
        raise FunnelkitError(
            f"{klass.__name__} has no setting(s) {unknown}; its settings are "
            f"{sorted(known)}.{hints}"
        ) from None
