"""scikit-learn estimator conventions without scikit-learn: settings, repr, not-fitted errors."""

from __future__ import annotations

import inspect
from typing import Any

from funnelkit.exceptions import NotFittedError

__all__ = ["Estimator"]


class Estimator:
    """``__init__`` stores keyword settings; fitted attributes end in ``_`` and appear in fit."""

    def get_params(self) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        return {name: getattr(self, name) for name in _init_names(type(self))}

    def _check_fitted(self) -> None:
        if "params_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(data) first."
            )

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup failed: a fitted attribute before fit(), a property
        # whose getter needs the fit (Python then drops its NotFittedError and lands here), or
        # a name that does not exist at all.
        fitted = "params_" in self.__dict__
        if not fitted and (
            (name.endswith("_") and not name.startswith("_")) or hasattr(type(self), name)
        ):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(data) before using "
                f"'{name}'."
            )
        import difflib

        known = [n for n in (*dir(type(self)), *self.__dict__) if not n.startswith("_")]
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}.{hint}")

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


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def _init_names(cls: type) -> list[str]:
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return [k for k, p in sig.parameters.items() if k != "self" and p.kind == p.KEYWORD_ONLY]
