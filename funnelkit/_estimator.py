"""The promises every funnelkit estimator keeps (scikit-learn's conventions without scikit-learn).

- ``__init__`` only stores keyword settings; :meth:`get_params` / :meth:`set_params` read and
  change them, and the repr shows the settings that differ from the defaults.
- ``fit(...)`` validates, fits and returns ``self``; fitted state ends in ``_``.
- Using fitted state before ``fit`` raises :class:`~funnelkit.NotFittedError`; a name that does
  not exist at all (``model.parms_``) raises a real ``AttributeError`` with a suggestion.
- ``to_json`` / ``from_json`` save and load the fitted model (no pickle, no data).

A subclass names the attribute that marks it as fitted (``_fitted_marker``) and the fitted
attributes it sets (``_fitted_attributes``), so that only those answer "not fitted yet".
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, ClassVar, TypeVar

from funnelkit._results import html_table
from funnelkit.exceptions import FunnelkitError, NotFittedError

__all__ = ["Estimator"]

E = TypeVar("E", bound="Estimator")


class Estimator:
    """``__init__`` stores keyword settings; fitted attributes end in ``_`` and appear in fit."""

    #: the attribute whose presence means "fitted"
    _fitted_marker: ClassVar[str] = "result_"
    #: the public fitted attributes ``fit`` sets (answer NotFittedError before fit)
    _fitted_attributes: ClassVar[tuple[str, ...]] = ("result_",)
    #: old setting names kept as documented aliases: ``{old: new}`` (not in get_params)
    _setting_aliases: ClassVar[dict[str, str]] = {}
    #: how the fit is called, for the "not fitted yet" message
    _fit_call: ClassVar[str] = "fit(data)"

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run (or the model was loaded from JSON)."""
        return self._fitted_marker in self.__dict__

    def get_params(self) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        return {name: getattr(self, name) for name in _init_names(type(self))}

    def set_params(self: E, **params: Any) -> E:
        """Change settings (scikit-learn convention); takes effect at the next ``fit``.

        >>> from funnelkit import BetaGeoFitter
        >>> BetaGeoFitter().set_params(penalizer=0.01)
        BetaGeoFitter(penalizer=0.01)
        """
        params = {type(self)._setting_aliases.get(k, k): v for k, v in params.items()}
        known = _init_names(type(self))
        unknown = [name for name in params if name not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise FunnelkitError(
                f"{type(self).__name__} has no setting(s) {unknown}; its settings are "
                f"{known}.{hint}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call {self._fit_call} first."
            )

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup failed: a fitted attribute before fit(), a property
        # whose getter needs the fit (Python then drops its NotFittedError and lands here), or
        # a name that does not exist at all (a typo must not be told "not fitted yet").
        if name.startswith("__"):
            raise AttributeError(name)
        cls = type(self)
        fitted = cls._fitted_marker in self.__dict__
        if not fitted and (name in cls._fitted_attributes or hasattr(cls, name)):
            raise NotFittedError(
                f"This {cls.__name__} is not fitted yet: call {cls._fit_call} before using "
                f"'{name}'."
            )
        known = sorted(
            {n for n in (*dir(cls), *cls._fitted_attributes, *self.__dict__) if n[0] != "_"}
        )
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}.{hint}")

    def _settings_repr(self) -> str:
        defaults = {
            k: p.default
            for k, p in inspect.signature(type(self).__init__).parameters.items()
            if k != "self"
        }
        shown = ", ".join(
            f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, defaults.get(k))
        )
        return f"{type(self).__name__}({shown})"

    def _fitted_summary(self) -> str | None:
        """What the fit found, in a few words, for the repr (e.g. ``"400 journeys: ..."``).

        Subclasses override it; ``None`` shows only that the estimator is fitted.
        """
        return None

    def _fitted_html(self) -> str | None:
        """HTML of the fitted state; by default that of ``result_`` where it renders."""
        as_html = getattr(self.__dict__.get("result_"), "as_html", None)
        return as_html() if callable(as_html) else None

    def __repr__(self) -> str:
        # Unfitted: the settings, as code that rebuilds the estimator. Fitted: the same inside
        # angle brackets with what the fit found, so a fitted model never looks like a new one.
        text = self._settings_repr()
        if not self.is_fitted:
            return text
        summary = self._fitted_summary()
        return f"<{text} fitted on {summary}>" if summary else f"<{text} fitted>"

    def _repr_html_(self) -> str:
        name = type(self).__name__
        # An unset setting (None) means "the default behaviour", not a missing number.
        settings = {k: "not set" if v is None else repr(v) for k, v in self.get_params().items()}
        if not self.is_fitted:
            return html_table(settings, caption=f"{name} (not fitted)")
        body = self._fitted_html()
        if body is not None:
            return body
        summary = self._fitted_summary()
        rows = {**settings, "fitted on": summary} if summary else settings
        return html_table(rows, caption=f"{name} (fitted)")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


#: per class, the names of its settings (a bootstrap makes fitters from settings a few
#: times per sample: reading the signature each time cost more than the fitter)
_INIT_NAMES: dict[type, tuple[str, ...]] = {}


def _init_names(cls: type) -> tuple[str, ...]:
    if cls not in _INIT_NAMES:
        sig = inspect.signature(cls.__init__)  # type: ignore[misc]
        aliases = getattr(cls, "_setting_aliases", {})
        _INIT_NAMES[cls] = tuple(
            k
            for k, p in sig.parameters.items()
            if k != "self" and p.kind == p.KEYWORD_ONLY and k not in aliases
        )
    return _INIT_NAMES[cls]
