"""Input checks and fit notes of the stage Markov model."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from funnelkit.dynamics.results import TransitionFit
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.journeys import Journeys, attribute_segments

__all__ = [
    "WEAK_LOG_SE",
    "check_censoring",
    "check_conf_level",
    "check_journeys",
    "fit_notes",
    "segment_labels",
]

#: Above this log-scale standard error an intensity counts as weakly identified.
WEAK_LOG_SE = 1.0


def check_conf_level(value: Any, owner: str) -> None:
    if not isinstance(value, float | int) or isinstance(value, bool) or not 0 < value < 1:
        raise FunnelkitError(
            f"The 'conf_level' parameter of {owner} must be in (0, 1). Got {value!r} instead."
        )


def check_journeys(journeys: Any) -> None:
    if not isinstance(journeys, Journeys):
        raise FunnelkitError(
            f"StageMarkovFitter.fit takes Journeys, got {type(journeys).__name__}; build them "
            "with Funnel.journeys(EventLog.from_frame(...))."
        )
    if len(journeys.stage_names) < 2:
        raise FunnelkitError(
            f"A stage model needs at least two stages; the funnel has {list(journeys.stage_names)}."
        )
    check_censoring(journeys)
    if len(journeys) == 0 or not np.any(~np.isnan(journeys.entry_times[:, 0])):
        raise DataError(
            f"Nobody entered the first stage {journeys.stage_names[0]!r}: there is nothing to "
            "fit. Check the funnel's event names against the log."
        )


def check_censoring(journeys: Journeys) -> None:
    """Refuse journeys where a stage was entered after the customer's censoring time."""
    with np.errstate(invalid="ignore"):
        late = np.any(journeys.entry_times > journeys.censoring_times[:, None], axis=1)
    if late.any():
        raise DataError(
            f"{int(late.sum())} customers entered a stage after their censoring time (e.g. "
            f"{format_examples(journeys.customer_ids[late])}); build the journeys with "
            "Funnel.journeys, or censor each customer at or after their last entry."
        )


def segment_labels(journeys: Journeys, by: str | None) -> tuple[np.ndarray | None, Any]:
    if by is None:
        return None, None
    if by not in journeys.attributes:
        close = difflib.get_close_matches(by, list(journeys.attributes), n=3, cutoff=0.5)
        hint = f" Did you mean one of these: {close}?" if close else ""
        raise DataError(
            f"by={by!r} is not a customer attribute of these journeys.{hint} Available "
            f"attributes: {list(journeys.attributes)} (pass attribute_cols=[...] to "
            "EventLog.from_frame to keep one)."
        )
    return attribute_segments(journeys.attributes[by])


def fit_notes(transitions: tuple[TransitionFit, ...]) -> tuple[str, ...]:
    text = {
        "no_entrants": "nobody entered stage {s}; its intensities are not estimable",
        "no_exposure": "every entrant of stage {s} was censored at once; nothing is estimable",
        "no_advances": "nobody advanced from stage {s}: advance rate 0, drop-out rate not "
        "estimable",
        "no_dropout": "stage {s}: the likelihood is largest with no drop-out (rate 0, on the "
        "boundary); its drop-out and advance-probability intervals are profile-likelihood "
        "bounds",
        "instantaneous": "every advance from stage {s} happened at once (duration 0): the "
        "intensities are unbounded and not estimable, only the share who advance",
    }
    out = []
    for t in transitions:
        where = repr(t.source) + (f" (segment {t.segment!r})" if t.segment else "")
        if t.status in text:
            out.append(text[t.status].format(s=where))
        for label, est in (("advance rate", t.advance_rate), ("drop-out rate", t.dropout_rate)):
            if est.estimate and est.std_error is not None:
                log_se = est.std_error / est.estimate
                if log_se > WEAK_LOG_SE:
                    out.append(
                        f"stage {where}: the {label} is weakly identified (log-scale standard "
                        f"error {log_se:.3g}), so its interval says little; forecasts draw it "
                        "on the natural scale, truncated at 0"
                    )
    return tuple(out)
