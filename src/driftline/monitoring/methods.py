"""The drift methods driftline accepts in a spec: Evidently 0.7's statistical tests by name.

Kept as plain data (no Evidently import) so specs validate in milliseconds; a unit test
checks this table against Evidently's own registry, so an upgrade that renames or adds a
test fails loudly instead of drifting apart.

A method's score is either a p-value (drift when the score is *below* the threshold; the
policy may correct these for multiple testing) or a distance (drift when the score is at
or *above* the threshold).
"""

from __future__ import annotations

from typing import Literal

ColumnType = Literal["numerical", "categorical"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("numerical", "categorical")

_BOTH = frozenset({"numerical", "categorical"})
_NUM = frozenset({"numerical"})
_CAT = frozenset({"categorical"})

#: Method name -> the column types it applies to (Evidently 0.7.23, tabular methods).
METHOD_TYPES: dict[str, frozenset[str]] = {
    "anderson": _NUM,
    "chisquare": _CAT,
    "cramer_von_mises": _NUM,
    "ed": _NUM,
    "empirical_mmd": _NUM,
    "es": _NUM,
    "fisher_exact": _CAT,
    "g_test": _CAT,
    "hellinger": _BOTH,
    "jensenshannon": _BOTH,
    "kl_div": _BOTH,
    "ks": _NUM,
    "mannw": _NUM,
    "psi": _BOTH,
    "t_test": _NUM,
    "TVD": _CAT,
    "wasserstein": _NUM,
    "z": _CAT,
}

#: Methods whose score is a p-value (drift when score < threshold).
P_VALUE_METHODS: frozenset[str] = frozenset(
    {
        "anderson",
        "chisquare",
        "cramer_von_mises",
        "empirical_mmd",
        "es",
        "fisher_exact",
        "g_test",
        "ks",
        "mannw",
        "t_test",
        "TVD",
        "z",
    }
)

#: Not a statistical test: the column had no values in the window, which is drift by
#: itself (a broken pipeline), reported with the share of missing values as its score.
ALL_MISSING = "all_missing"


def is_p_value(method: str) -> bool:
    """Whether ``method`` scores with a p-value (smaller = more drift)."""
    return method in P_VALUE_METHODS


def check_method(method: str, column_type: str) -> str | None:
    """Why ``method`` cannot test a ``column_type`` column, or None when it can."""
    types = METHOD_TYPES.get(method)
    if types is None:
        return f"unknown drift method {method!r}; choose one of {', '.join(sorted(METHOD_TYPES))}"
    if column_type not in types:
        return (
            f"drift method {method!r} does not apply to {column_type} columns "
            f"(it tests {', '.join(sorted(types))} columns)"
        )
    return None
