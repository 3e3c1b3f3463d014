"""Covariates per prospect: one table in, one design matrix out, and the encoding kept.

A fitter with ``covariates=`` reads one row per customer of the journeys: a frame of any
supported library with a ``customer_id`` column, a mapping of arrays aligned with the
journeys, or the names of attributes the journeys already carry. Numeric columns enter as
they are (booleans as 0/1); text columns are one-hot encoded against a reference level, the
first in sorted order, named in every result. The :class:`CovariateEncoding` is saved with the
model, so a profile given at prediction time is encoded exactly as at fit time.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from funnelkit._frames import Backend
from funnelkit._results import Result
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.journeys import Journeys

__all__ = [
    "CovariateColumn",
    "CovariateEncoding",
    "CovariatesLike",
    "covariate_columns",
    "frame_backend",
    "standardise",
]

#: What ``covariates=`` accepts: attribute names, a frame keyed by ``customer_id``, or a
#: mapping of arrays aligned with the journeys.
CovariatesLike = str | Sequence[str] | Mapping[str, Any] | Any

_NONE = np.asarray(None, dtype=object)

_FIX_FRAME = (
    "Give one row per customer: a frame with a 'customer_id' column and one column per "
    "covariate, a mapping of arrays aligned with the journeys, or attribute names kept with "
    "EventLog.from_frame(..., attribute_cols=[...])."
)


class CovariateColumn(Result):
    """One covariate as the model sees it.

    ``kind="numeric"`` enters as is (one coefficient); ``kind="categorical"`` enters as one
    indicator per level but the reference ``levels[0]``, whose effect is 0 by definition.
    """

    title = "Covariate"

    name: str
    kind: Literal["numeric", "categorical"]
    levels: tuple[str, ...] = ()

    @property
    def reference(self) -> str | None:
        """The reference level of a categorical covariate (None for a numeric one)."""
        return self.levels[0] if self.kind == "categorical" else None

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the model's columns for this covariate: ``name`` or ``name[level]``."""
        if self.kind == "numeric":
            return (self.name,)
        return tuple(f"{self.name}[{level}]" for level in self.levels[1:])


class CovariateEncoding(Result):
    """How covariate values become the model's design matrix (saved with the model).

    Examples
    --------
    >>> enc = CovariateEncoding.learn(
    ...     {"channel": np.array(["search", "social", "search"], dtype=object),
    ...      "age": np.array([30.0, 41.0, 25.0])},
    ...     ids=np.array(["a", "b", "c"], dtype=object))
    >>> enc.terms
    ('channel[social]', 'age')
    >>> enc.matrix({"channel": ["social"], "age": [50.0]}).tolist()
    [[1.0, 50.0]]
    """

    title = "Covariate encoding"

    columns: tuple[CovariateColumn, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def terms(self) -> tuple[str, ...]:
        """Column names of the design matrix, in order."""
        return tuple(t for c in self.columns for t in c.terms)

    def column(self, name: str) -> CovariateColumn:
        for col in self.columns:
            if col.name == name:
                return col
        raise FunnelkitError(
            f"No covariate {name!r}; the model's covariates are {list(self.names)}."
        )

    @classmethod
    def learn(cls, values: Mapping[str, np.ndarray], *, ids: np.ndarray) -> CovariateEncoding:
        """Learn the encoding from the fit's covariates, rejecting missing or constant ones."""
        columns = []
        for name, raw in values.items():
            arr = np.asarray(raw)
            missing = _missing(arr)
            if missing.any():
                raise DataError(
                    f"Covariate {name!r} is missing for {int(missing.sum())} of {arr.size} "
                    f"customer(s) (e.g. {format_examples(ids[missing])}). Fill it in (e.g. an "
                    "'unknown' level for a category, or a mean and an indicator for a number) "
                    "or leave the covariate out."
                )
            if _is_numeric(arr):
                num = arr.astype(float)
                if not np.all(np.isfinite(num)):
                    bad = ~np.isfinite(num)
                    raise DataError(
                        f"Covariate {name!r} is infinite for {int(bad.sum())} customer(s) (e.g. "
                        f"{format_examples(ids[bad])}). Give finite numbers."
                    )
                if arr.size and float(num.max()) == float(num.min()):
                    raise DataError(
                        f"Covariate {name!r} has the same value ({num[0]:g}) for all "
                        f"{arr.size} customer(s): its effect cannot be told from the baseline. "
                        "Leave it out."
                    )
                columns.append(CovariateColumn(name=str(name), kind="numeric"))
            else:
                levels = tuple(str(v) for v in np.unique(arr.astype(str)))
                if len(levels) < 2:
                    raise DataError(
                        f"Covariate {name!r} has a single level {levels[0]!r} for all "
                        f"{arr.size} customer(s): its effect cannot be told from the baseline. "
                        "Leave it out."
                    )
                columns.append(CovariateColumn(name=str(name), kind="categorical", levels=levels))
        if not columns:
            raise DataError("covariates has no column. " + _FIX_FRAME)
        return cls(columns=tuple(columns))

    def matrix(self, values: Mapping[str, Any], *, ids: np.ndarray | None = None) -> np.ndarray:
        """The design matrix (rows × terms) of ``values``, a mapping name → array.

        Raises a :class:`~funnelkit.DataError` for a missing covariate, a missing value or a
        level the model has not seen.
        """
        absent = [n for n in self.names if n not in values]
        if absent:
            raise DataError(
                f"The covariates lack {absent}; the model was fitted with {list(self.names)}. "
                "Give every covariate, one value per profile."
            )
        arrays = {n: np.asarray(values[n]).reshape(-1) for n in self.names}
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1:
            raise DataError(
                f"The covariates have different lengths {sorted(sizes)}; give one value per "
                "profile for every covariate."
            )
        n = sizes.pop()
        labels = ids if ids is not None else np.arange(n)
        blocks = []
        for col in self.columns:
            arr = arrays[col.name]
            missing = _missing(arr)
            if missing.any():
                raise DataError(
                    f"Covariate {col.name!r} is missing for {int(missing.sum())} row(s) (e.g. "
                    f"{format_examples(labels[missing])}). Give a value for every profile."
                )
            if col.kind == "numeric":
                if not _is_numeric(arr):
                    raise DataError(
                        f"Covariate {col.name!r} was numeric at fit time; got "
                        f"{format_examples(arr)}. Give numbers."
                    )
                blocks.append(arr.astype(float)[:, None])
                continue
            text = arr.astype(str)
            unknown = ~np.isin(text, np.asarray(col.levels))
            if unknown.any():
                raise DataError(
                    f"Covariate {col.name!r} has {int(unknown.sum())} value(s) the model has not "
                    f"seen (e.g. {format_examples(np.unique(text[unknown]))}); its levels are "
                    f"{list(col.levels)}. Map them to a known level or refit."
                )
            blocks.append(
                np.stack([(text == level).astype(float) for level in col.levels[1:]], axis=1)
            )
        return np.concatenate(blocks, axis=1) if n else np.zeros((0, len(self.terms)))


def covariate_columns(
    journeys: Journeys, covariates: CovariatesLike, *, fitter: str
) -> tuple[dict[str, np.ndarray], Backend]:
    """Covariate values aligned with ``journeys`` (name → array) and the caller's backend.

    Raises a :class:`~funnelkit.DataError` naming the customers without a row.
    """
    if isinstance(covariates, str) or (
        isinstance(covariates, Sequence)
        and covariates
        and all(isinstance(c, str) for c in covariates)
    ):
        names = [covariates] if isinstance(covariates, str) else list(covariates)
        for name in names:
            if name not in journeys.attributes:
                close = difflib.get_close_matches(name, list(journeys.attributes), n=3)
                hint = f" Did you mean one of these: {close}?" if close else ""
                raise DataError(
                    f"covariates={name!r} is not a customer attribute of these journeys.{hint} "
                    f"Attributes: {list(journeys.attributes)}. " + _FIX_FRAME
                )
        if len(set(names)) != len(names):
            raise DataError(f"covariates names a column twice: {names}. Name each once.")
        return {n: np.asarray(journeys.attributes[n]) for n in names}, "pandas"
    if isinstance(covariates, Mapping):
        out = {str(k): np.asarray(v).reshape(-1) for k, v in covariates.items()}
        if "customer_id" in out:
            ids = out.pop("customer_id")
            return _align(journeys, ids, out, fitter), "pandas"
        wrong = {k: v.size for k, v in out.items() if v.size != len(journeys)}
        if wrong:
            raise DataError(
                f"The covariate arrays {wrong} are not aligned with the {len(journeys)} "
                "customers of the journeys. Give one value per customer in journeys order, "
                "or add a 'customer_id' array."
            )
        return out, "pandas"
    try:
        import narwhals as nw

        native: Any = covariates
        frame = nw.from_native(native, eager_only=True)
    except TypeError:
        raise FunnelkitError(
            f"{fitter}.fit(covariates=...) got {type(covariates).__name__}. " + _FIX_FRAME
        ) from None
    backend = frame_backend(covariates)
    if "customer_id" not in frame.columns:
        close = difflib.get_close_matches("customer_id", list(frame.columns), n=3, cutoff=0.5)
        hint = f" Did you mean one of these columns: {close}?" if close else ""
        raise DataError(
            f"The covariates frame has no 'customer_id' column.{hint} Columns: "
            f"{list(frame.columns)}. " + _FIX_FRAME
        )
    ids = frame["customer_id"].to_numpy()
    values = {str(c): frame[c].to_numpy() for c in frame.columns if c != "customer_id"}
    return _align(journeys, ids, values, fitter), backend


def frame_backend(native: Any) -> Backend:
    """The frame library of ``native`` (pandas when it is none of the three)."""
    module = type(native).__module__.split(".")[0]
    return module if module in ("polars", "pyarrow") else "pandas"  # type: ignore[return-value]


def _align(
    journeys: Journeys, ids: np.ndarray, values: dict[str, np.ndarray], fitter: str
) -> dict[str, np.ndarray]:
    keys = np.asarray([str(v) for v in np.asarray(ids).tolist()], dtype=object)
    uniq, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise DataError(
            f"The covariates have {dup.size} customer id(s) on more than one row (e.g. "
            f"{format_examples(dup)}). Give one row per customer."
        )
    wanted = np.asarray([str(v) for v in journeys.customer_ids.tolist()], dtype=object)
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], wanted)
    pos = np.minimum(pos, max(keys.size - 1, 0))
    found = keys[order][pos] == wanted if keys.size else np.zeros(wanted.size, dtype=bool)
    if not found.all():
        raise DataError(
            f"{int((~found).sum())} of {wanted.size} customer(s) of the journeys have no row "
            f"in the covariates given to {fitter}.fit (e.g. "
            f"{format_examples(journeys.customer_ids[~found])}). " + _FIX_FRAME
        )
    rows = order[pos]
    return {k: np.asarray(v)[rows] for k, v in values.items()}


def standardise(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale each column (for a well-conditioned optimisation).

    Returns ``(z_std, centre, scale)``; :func:`block_map` maps coefficients back.
    """
    centre = z.mean(axis=0) if z.size else np.zeros(z.shape[1])
    scale = z.std(axis=0) if z.size else np.ones(z.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    return (z - centre) / scale, centre, scale


def block_map(centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Linear map of ``(intercept, effects)`` from the standardised to the original scale.

    ``a + b'(z - c)/s = (a - Σ b c / s) + (b / s)' z``.
    """
    k = centre.size
    out = np.eye(k + 1)
    out[0, 1:] = -centre / scale
    out[1:, 1:] = np.diag(1.0 / scale)
    return out


def _missing(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "fc":
        return np.isnan(arr)
    if arr.dtype.kind == "O":
        try:
            # NaN is the one value unequal to itself; both comparisons run elementwise in C
            return np.asarray(arr != arr, dtype=bool) | np.equal(arr, _NONE)
        except TypeError:  # pandas' NA is neither equal nor unequal to itself
            return np.asarray([_missing_value(v) for v in arr.tolist()], dtype=bool)
    return np.zeros(arr.shape, dtype=bool)


def _missing_value(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:
        return True


def _is_numeric(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "biuf":
        return True
    if arr.dtype.kind == "O":
        return all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, str)
            for v in arr.tolist()
        )
    return False
