"""eCommerce traffic simulator: customers, predictions, late labels, known drift.

Each simulated day draws visitors with RFM-style features, a device and a channel,
a true purchase-within-7-days probability, and a score from a fixed scoring rule (the
"model" before a real one is trained). The same visitors are also scored by a second
model, churn risk (``churn_score``, label ``churned_30d`` 30 days later), and by a
multiclass model, next category (``p_<category>`` per category and ``predicted_category``,
label ``next_category`` 7 days later, see :func:`simulate_next_category`), so several
models can be monitored side by side. :func:`simulate_customer_ltv` draws the same kind
of customers for a regression model, ``customer_ltv`` (12-month value, label 365 days
later). Named scenarios place events on a timeline that is returned (and written) with
the data, so tests and the demo know exactly which days and columns drifted. Everything
is vectorised and seeded: the same arguments always give the same rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

NUMERICAL = [
    "recency_days",
    "frequency_90d",
    "monetary_90d",
    "avg_order_value",
    "sessions_7d",
    "cart_adds_7d",
    "discount_share",
    "pages_per_session",
    "days_since_signup",
    "email_open_rate",
]
CATEGORICAL = ["device", "channel", "top_category", "customer_type"]
DEVICES = ["mobile", "desktop", "tablet"]
CHANNELS = ["organic", "paid_search", "paid_social", "email", "direct", "referral"]
CATEGORIES = ["fashion", "electronics", "home", "beauty", "sports", "toys"]
LABEL_DELAY = timedelta(days=7)
NEXT_CATEGORY_LABEL_DELAY = timedelta(days=7)
CHURN_LABEL_DELAY = timedelta(days=30)

SCENARIOS: dict[str, str] = {
    "stable": "no change: every day is drawn from the same distributions",
    "flash_sale": "a 3-day sale: 2.5x traffic, discount surge, more new customers, smaller baskets",
    "channel_shift": "paid-social newcomers grow from 10% to 50% of traffic over a week and stay",
    "mobile_shift": "mobile share grows from 55% to 85% over a week; shorter sessions",
    "concept_drift": "price-driven customers: what predicts a purchase changes, inputs do not",
    "pipeline_bug": "for 2 days avg_order_value arrives null and pages_per_session constant 0",
    "harmless_shift": "a site redesign: pages_per_session grows by half and stays; purchases do "
    "not depend on it",
    "demo": "channel_shift from 30% of the timeline, then concept_drift from half-way",
}


@dataclass(frozen=True)
class Event:
    """One change on the timeline, active on days ``[start_day, end_day)``."""

    kind: str
    start_day: int
    end_day: int
    columns: tuple[str, ...]
    description: str
    ramp_days: int = 0


@dataclass
class Simulation:
    """Generated predictions, their labels, and the timeline that explains them."""

    predictions: pd.DataFrame
    labels: pd.DataFrame
    timeline: dict[str, Any] = field(default_factory=dict)
    churn_labels: pd.DataFrame = field(default_factory=pd.DataFrame)
    next_category_labels: pd.DataFrame = field(default_factory=pd.DataFrame)

    def labels_known_by(self, when: datetime | pd.Timestamp) -> pd.DataFrame:
        """Purchase labels that have arrived by ``when`` (7 days after the visit)."""
        return self.labels[self.labels["labelled_at"] <= pd.Timestamp(when)]

    def churn_labels_known_by(self, when: datetime | pd.Timestamp) -> pd.DataFrame:
        """Churn labels that have arrived by ``when`` (30 days after the visit)."""
        return self.churn_labels[self.churn_labels["labelled_at"] <= pd.Timestamp(when)]


def scenario_events(scenario: str, days: int, change_day: int | None = None) -> list[Event]:
    """The events of a named scenario, placed relative to the number of days; a single-event
    scenario starts on ``change_day`` when given (default: mid-timeline)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if change_day is not None and not 0 <= change_day < days:
        raise ValueError(f"change_day must lie in [0, {days}), not {change_day}")
    if change_day is not None and scenario == "demo":
        raise ValueError("the demo scenario places its own two events: give no change_day")
    mid = days // 2 if change_day is None else change_day
    if scenario == "stable":
        return []
    if scenario == "flash_sale":
        cols = (
            "discount_share",
            "avg_order_value",
            "customer_type",
            "sessions_7d",
            "cart_adds_7d",
            "frequency_90d",
            "recency_days",
            "days_since_signup",
            "monetary_90d",
        )
        return [Event("flash_sale", mid, min(mid + 3, days), cols, SCENARIOS[scenario])]
    if scenario == "channel_shift":
        return [_channel_shift(mid, days)]
    if scenario == "mobile_shift":
        return [
            Event(
                "mobile_shift",
                mid,
                days,
                ("device", "pages_per_session"),
                SCENARIOS[scenario],
                ramp_days=7,
            )
        ]
    if scenario == "concept_drift":
        return [Event("concept_drift", mid, days, (), SCENARIOS[scenario])]
    if scenario == "harmless_shift":
        return [Event("harmless_shift", mid, days, ("pages_per_session",), SCENARIOS[scenario])]
    if scenario == "pipeline_bug":
        return [
            Event(
                "pipeline_bug",
                mid,
                min(mid + 2, days),
                ("avg_order_value", "pages_per_session"),
                SCENARIOS[scenario],
            )
        ]
    # demo: a channel shift, then concept drift on top of it
    shift_start, drift_start = round(days * 0.3), round(days * 0.5)
    return [
        _channel_shift(shift_start, days, ramp=5),
        Event("concept_drift", drift_start, days, (), SCENARIOS["concept_drift"]),
    ]


def _channel_shift(start: int, days: int, ramp: int = 7) -> Event:
    cols = (
        "channel",
        "customer_type",
        "frequency_90d",
        "recency_days",
        "days_since_signup",
        "monetary_90d",
        "device",
    )
    return Event("channel_shift", start, days, cols, SCENARIOS["channel_shift"], ramp_days=ramp)


def _strength(event: Event, day: int) -> float:
    """0 outside the event, ramping linearly to 1 over ``ramp_days``."""
    if not event.start_day <= day < event.end_day:
        return 0.0
    if event.ramp_days <= 0:
        return 1.0
    return min(1.0, (day - event.start_day + 1) / event.ramp_days)


def _pick(rng: np.random.Generator, options: list[str], probs: np.ndarray, n: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    return np.asarray(options, dtype=object)[
        rng.choice(len(options), size=n, p=probs / probs.sum())
    ]


def _logit_true(f: dict[str, np.ndarray], concept: float) -> np.ndarray:
    """The true purchase log-odds; ``concept`` in [0, 1] blends in the new behaviour."""
    base = (
        -2.6
        + 0.45 * f["cart_adds_7d"]
        + 0.12 * f["sessions_7d"]
        - 0.03 * f["recency_days"]
        + 0.3 * np.log1p(f["frequency_90d"])
        + 1.2 * f["email_open_rate"]
        + 0.8 * f["discount_share"]
        + np.select(
            [f["channel"] == "email", f["channel"] == "paid_social", f["channel"] == "direct"],
            [0.4, -0.5, 0.3],
            0.0,
        )
        - 0.2 * (f["device"] == "mobile")
    )
    if concept <= 0:
        return base
    # Price-driven shoppers: discounts decide, browsing intent matters much less.
    drifted = (
        -3.2
        + 0.08 * f["cart_adds_7d"]
        + 0.02 * f["sessions_7d"]
        - 0.01 * f["recency_days"]
        + 5.5 * f["discount_share"]
        + 0.6 * (f["device"] == "mobile")
        - 0.004 * f["avg_order_value"]
    )
    return (1 - concept) * base + concept * drifted


def _churn_logit(f: dict[str, np.ndarray]) -> np.ndarray:
    """True log-odds that the visitor does not come back within 30 days (churn model)."""
    return (
        -1.2
        + 0.035 * f["recency_days"]
        - 0.5 * np.log1p(f["frequency_90d"])
        - 1.0 * f["email_open_rate"]
        + 0.5 * (f["customer_type"] == "new")
        + 0.3 * (f["channel"] == "paid_social")
        - 0.08 * f["sessions_7d"]
    )


def _day(
    rng: np.random.Generator, day: int, n_base: int, events: list[Event], pool: int
) -> dict[str, np.ndarray]:
    s = {e.kind: _strength(e, day) for e in events}
    sale, shift, mobile, concept, bug, harmless = (
        s.get(k, 0.0)
        for k in (
            "flash_sale",
            "channel_shift",
            "mobile_shift",
            "concept_drift",
            "pipeline_bug",
            "harmless_shift",
        )
    )
    n = round(n_base * (1 + 1.5 * sale) * rng.uniform(0.95, 1.05))

    channel_p = np.array([0.30, 0.22, 0.10, 0.15, 0.18, 0.05])
    channel_p = channel_p * (1 - shift * 0.45) + shift * np.array([0, 0, 0.5, 0, 0, 0])
    channel = _pick(rng, CHANNELS, channel_p, n)
    social = channel == "paid_social"

    new_p = np.where(social, 0.35 + 0.45 * shift, 0.35) + 0.2 * sale
    customer_type = np.where(rng.random(n) < new_p, "new", "returning").astype(object)
    new = customer_type == "new"

    mobile_share = 0.55 + 0.30 * mobile
    device_p = np.array([mobile_share, (1 - mobile_share) * 0.84, (1 - mobile_share) * 0.16])
    device = _pick(rng, DEVICES, device_p, n)
    device = np.where(social & (rng.random(n) < 0.5 * shift), "mobile", device).astype(object)
    top_category = _pick(rng, CATEGORIES, np.array([0.28, 0.18, 0.17, 0.15, 0.12, 0.10]), n)

    recency = np.where(new, rng.gamma(1.0, 3.0, n), rng.gamma(1.5, 14.0, n))
    frequency = np.where(new, 0, rng.poisson(2.5, n) + 1).astype(float)
    aov = rng.lognormal(np.log(55), 0.5, n) * np.where(top_category == "electronics", 1.8, 1.0)
    aov = aov * (1 - 0.25 * sale)
    monetary = frequency * aov * rng.lognormal(0, 0.2, n)
    sessions = (rng.poisson(3 + 1.5 * (~new) + 2 * sale, n) + 1).astype(float)
    cart_adds = rng.binomial(sessions.astype(int), 0.25 + 0.1 * sale).astype(float)
    discount = np.where(sale > 0, rng.beta(6, 4, n), rng.beta(2, 8, n))
    pages = rng.gamma(4, 1.5, n) * np.where(device == "mobile", 0.8 - 0.25 * mobile, 1.0)
    pages = pages * (1 + 0.5 * harmless)  # no purchase rule reads pages_per_session
    signup = np.where(new, rng.uniform(0, 30, n), rng.uniform(30, 1500, n))
    email_rate = rng.beta(2, 5, n) + np.where(channel == "email", 0.2, 0.0)

    features: dict[str, np.ndarray] = {
        "recency_days": np.round(recency, 1),
        "frequency_90d": frequency,
        "monetary_90d": np.round(monetary, 2),
        "avg_order_value": np.round(aov, 2),
        "sessions_7d": sessions,
        "cart_adds_7d": cart_adds,
        "discount_share": np.round(discount, 3),
        "pages_per_session": np.round(pages, 2),
        "days_since_signup": np.round(signup, 0),
        "email_open_rate": np.round(np.clip(email_rate, 0, 1), 3),
        "device": device,
        "channel": channel,
        "top_category": top_category,
        "customer_type": customer_type,
    }
    true_logit = _logit_true(features, concept) + 0.6 * sale
    rule_logit = _logit_true(features, 0.0) + rng.normal(0, 0.6, n)
    features["score"] = np.round(1 / (1 + np.exp(-rule_logit)), 5)
    features["__p"] = 1 / (1 + np.exp(-true_logit))
    churn_logit = _churn_logit(features)
    features["churn_score"] = np.round(1 / (1 + np.exp(-(churn_logit + rng.normal(0, 0.6, n)))), 5)
    features["__churn_p"] = 1 / (1 + np.exp(-churn_logit))

    returning_ids = rng.integers(0, pool, n)
    features["customer_id"] = np.where(
        new,
        [f"N{day:03d}{i:06d}" for i in range(n)],
        [f"C{c:07d}" for c in returning_ids],
    ).astype(object)
    features["consent_analytics"] = rng.random(n) < 0.92
    if bug > 0:
        features["avg_order_value"] = np.full(n, np.nan)
        features["pages_per_session"] = np.zeros(n)
    features["__n"] = np.array([n])
    return features


def _timeline_events(events: list[Event], origin: datetime) -> list[dict[str, Any]]:
    """The events as the timeline lists them: each with its first and end time (ISO)."""
    return [
        {
            **asdict(e),
            "start": (origin + timedelta(days=e.start_day)).isoformat(),
            "end": (origin + timedelta(days=e.end_day)).isoformat(),
            "columns": list(e.columns),
        }
        for e in events
    ]


def simulate(
    scenario: str = "stable",
    *,
    days: int = 28,
    rows_per_day: int = 20_000,
    seed: int = 0,
    start: date = date(2026, 9, 1),
    change_day: int | None = None,
) -> Simulation:
    """Simulate ``days`` days of traffic under a named scenario (see ``SCENARIOS``);
    ``change_day`` places a single-event scenario's change (default: mid-timeline).
    ValueError for an unknown scenario or a change day outside the timeline."""
    if days < 1 or rows_per_day < 1:
        raise ValueError("days and rows_per_day must be at least 1")
    events = scenario_events(scenario, days, change_day)
    rng = np.random.default_rng(seed)
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    frames = []
    for day in range(days):
        f = _day(rng, day, rows_per_day, events, pool=rows_per_day * 5)
        n = int(f.pop("__n")[0])
        p = f.pop("__p")
        churn_p = f.pop("__churn_p")
        frame = pd.DataFrame(f)
        seconds = np.sort(rng.uniform(0, 86_400, n))
        frame.insert(
            0,
            "event_ts",
            pd.Timestamp(origin + timedelta(days=day)) + pd.to_timedelta(seconds, unit="s"),
        )
        frame.insert(0, "request_id", [f"r{seed}-{day:03d}-{i:06d}" for i in range(n)])
        frame["purchased_7d"] = (rng.random(n) < p).astype(int)
        frame["churned_30d"] = (rng.random(n) < churn_p).astype(int)
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    labels = pd.DataFrame(
        {
            "request_id": data["request_id"],
            "purchased_7d": data.pop("purchased_7d"),
            "labelled_at": data["event_ts"] + LABEL_DELAY,
        }
    )
    churn_labels = pd.DataFrame(
        {
            "request_id": data["request_id"],
            "churned_30d": data.pop("churned_30d"),
            "labelled_at": data["event_ts"] + CHURN_LABEL_DELAY,
        }
    )
    next_predictions, next_labels = simulate_next_category(data, events, seed=seed)
    data = pd.concat([data, next_predictions], axis=1)
    columns = [
        "request_id",
        "customer_id",
        "event_ts",
        *NUMERICAL,
        *CATEGORICAL,
        "score",
        "churn_score",
        *next_predictions.columns,
        "consent_analytics",
    ]
    timeline = {
        "scenario": scenario,
        "description": SCENARIOS[scenario],
        "seed": seed,
        "start": origin.isoformat(),
        "days": days,
        "rows_per_day": rows_per_day,
        "label_delay_days": LABEL_DELAY.days,
        "events": _timeline_events(events, origin),
    }
    return Simulation(data[columns], labels, timeline, churn_labels, next_labels)


# -- customer_ltv: a regression model ------------------------------------------------------

LTV_HORIZON = timedelta(days=365)
LTV_COLUMNS = ["request_id", "customer_id", "event_ts", *NUMERICAL, *CATEGORICAL]


def _ltv_season(ts: pd.Series) -> np.ndarray:
    """1 in the late-November promotion season (Black Friday to Christmas), fading to 0
    in late May: a smooth yearly cycle."""
    day = ts.dt.dayofyear.to_numpy(dtype=float)
    return 0.5 * (1 + np.cos(2 * np.pi * (day - 335) / 365.25))


def _ltv_expected_log(f: dict[str, np.ndarray], concept: float) -> np.ndarray:
    """Log of the mean 12-month spend of a buyer; ``concept`` in [0, 1] blends in the
    price-driven behaviour (discount hunters spend less, loyalty matters less)."""
    base = (
        np.log(f["avg_order_value"].astype(float))
        + 0.45 * np.log1p(f["frequency_90d"])
        + 0.5 * (f["recency_days"] < 21)
        + 0.3 * (f["top_category"] == "electronics")
        - 0.4 * (f["channel"] == "paid_social")
        + 0.6 * f["email_open_rate"]
    )
    if concept <= 0:
        return base
    drifted = base - 0.3 * np.log1p(f["frequency_90d"]) - 1.2 * f["discount_share"]
    return (1 - concept) * base + concept * drifted


def _ltv_buy_logit(f: dict[str, np.ndarray]) -> np.ndarray:
    """Log-odds that the customer buys again within 12 months."""
    return (
        -0.4
        + 0.7 * np.log1p(f["frequency_90d"])
        - 0.012 * f["recency_days"]
        + 1.2 * f["email_open_rate"]
        - 0.5 * (f["customer_type"] == "new")
        + 0.15 * f["sessions_7d"]
    )


def simulate_customer_ltv(
    scenario: str = "stable",
    *,
    days: int = 28,
    rows_per_day: int = 500,
    seed: int = 0,
    start: date = date(2026, 9, 1),
    history_days: int = 0,
) -> Simulation:
    """Simulate the ``customer_ltv`` model: each day's visitors (the same RFM features as
    :func:`simulate`), a score from a fixed value rule (``ltv_score``) and the value the
    customer spends over the next 12 months (``value_12m``, arriving 365 days later).

    The value is zero-inflated and heavy-tailed: a buy-again probability times a
    lognormal spend (sigma 0.9). A seasonal promotion effect lowers the value of
    customers who arrive in the promotion season with a high discount share (bargain
    hunters rarely come back), and the scenario's events move it like the purchase
    model: ``flash_sale`` brings discount-driven customers, ``concept_drift`` makes
    discounts predict lower value, shifts change who arrives. ``history_days`` days of
    the stable world come before ``start`` (so a 365-day label has matured by ``start``).
    """
    if days < 1 or rows_per_day < 1 or history_days < 0:
        raise ValueError("days and rows_per_day must be at least 1, history_days at least 0")
    events = scenario_events(scenario, days)
    rng = np.random.default_rng(seed)
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    # The stable history is drawn a week at a time (nothing happens in it, and the season
    # is read from each row's own time); the scenario's days one by one.
    blocks = [(d, min(7, -d)) for d in range(-history_days, 0, 7)]
    blocks += [(d, 1) for d in range(days)]
    parts: dict[str, list[np.ndarray]] = {}
    for index, (day, length) in enumerate(blocks):
        f = _day(rng, day, rows_per_day * length, events, pool=rows_per_day * 5)
        n = int(f.pop("__n")[0])
        concept = max((_strength(e, day) for e in events if e.kind == "concept_drift"), default=0)
        seconds = np.sort(rng.uniform(0, 86_400 * length, n))
        ts = pd.Series(pd.Timestamp(origin + timedelta(days=day)) + pd.to_timedelta(seconds, "s"))
        p_buy = 1 / (1 + np.exp(-_ltv_buy_logit(f)))
        sigma = 0.9
        spend = np.exp(_ltv_expected_log(f, concept) + rng.normal(0, sigma, n) - sigma**2 / 2)
        promotion = 1 - 0.6 * _ltv_season(ts) * f["discount_share"]
        value = np.where(rng.random(n) < p_buy, spend * promotion * 2.5, 0.0)
        rule = p_buy * np.exp(_ltv_expected_log(f, 0.0)) * 2.5 * rng.lognormal(0, 0.3, n)
        columns = {
            "__row": np.arange(n) + index * 10_000_000,
            "event_ts": ts.dt.tz_localize(None).to_numpy(),
            **{c: f[c] for c in [*NUMERICAL, *CATEGORICAL, "consent_analytics"]},
            "ltv_score": np.round(rule, 2),
            "value_12m": np.round(value, 2),
        }
        for name, values in columns.items():
            parts.setdefault(name, []).append(np.asarray(values))
    data = pd.DataFrame({name: np.concatenate(values) for name, values in parts.items()})
    data["event_ts"] = data["event_ts"].dt.tz_localize("UTC")
    row = data.pop("__row").astype(str)
    data.insert(0, "request_id", (f"ltv{seed}-" + row).astype(object))
    data.insert(1, "customer_id", ("L" + row).astype(object))
    for column in CATEGORICAL:
        data[column] = data[column].astype(object)
    labels = pd.DataFrame(
        {
            "request_id": data["request_id"],
            "value_12m": data.pop("value_12m"),
            "labelled_at": data["event_ts"] + LTV_HORIZON,
        }
    )
    timeline = {
        "scenario": scenario,
        "description": SCENARIOS[scenario],
        "model": "customer_ltv",
        "seed": seed,
        "start": origin.isoformat(),
        "days": days,
        "history_days": history_days,
        "rows_per_day": rows_per_day,
        "label_delay_days": LTV_HORIZON.days,
        "events": _timeline_events(events, origin),
    }
    return Simulation(data[[*LTV_COLUMNS, "ltv_score", "consent_analytics"]], labels, timeline)


# -- next category: a multiclass model ------------------------------------------------------

#: How each visitor trait moves the log-odds of each category of the next purchase.
_CATEGORY_BASE = np.array([0.4, 0.0, 0.1, 0.0, -0.2, -0.4])  # order of CATEGORIES


#: The new habit concept drift moves customers to: home and sports replace the usual
#: category (what predicts the category changes; the inputs do not).
_CATEGORY_SHIFTED = _CATEGORY_BASE + np.array([0.0, 0.0, 1.8, 0.0, 1.5, 0.0])


def _category_logits(visitors: pd.DataFrame) -> np.ndarray:
    """The usual log-odds (n x 6, CATEGORIES order) of the next purchase's category:
    customers mostly come back for the category they buy most (``top_category``), mobile
    and paid social visitors lean to fashion and beauty, email readers to home, big
    baskets to electronics."""
    n = len(visitors)
    logits = np.tile(_CATEGORY_BASE, (n, 1))
    top = visitors["top_category"].to_numpy()
    for j, category in enumerate(CATEGORIES):
        logits[:, j] += 1.6 * (top == category)
    mobile = (visitors["device"].to_numpy() == "mobile").astype(float)
    social = (visitors["channel"].to_numpy() == "paid_social").astype(float)
    email = (visitors["channel"].to_numpy() == "email").astype(float)
    aov = np.nan_to_num(visitors["avg_order_value"].to_numpy(dtype=float), nan=55.0)
    logits[:, 0] += 0.5 * mobile + 0.6 * social
    logits[:, 3] += 0.4 * mobile + 0.5 * social
    logits[:, 2] += 0.6 * email
    logits[:, 1] += 0.8 * np.log(aov / 55.0)
    return logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def simulate_next_category(
    visitors: pd.DataFrame, events: list[Event], *, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``next_category`` model on simulated visitors (``request_id``, ``event_ts``,
    ``device``, ``channel``, ``top_category``, ``avg_order_value``): its predictions
    (``p_<category>`` for each of CATEGORIES, rounded, summing to 1; ``predicted_category``)
    aligned with ``visitors``, and its labels (``request_id``, ``next_category``,
    ``labelled_at`` 7 days after the visit).

    The model's probabilities follow the true habits with noise; the scenarios move it:
    ``channel_shift`` and ``mobile_shift`` move its inputs (more fashion and beauty
    predicted), ``flash_sale``'s smaller baskets move it away from electronics, and
    ``concept_drift`` changes what customers buy next (home and sports) without changing
    the inputs, so realized performance drops. Own random stream (seeded
    from ``seed``): the other models' rows do not change."""
    rng = np.random.default_rng([seed, 10])
    origin = visitors["event_ts"].min().floor("D")
    day = ((visitors["event_ts"] - origin) // pd.Timedelta(days=1)).to_numpy()
    concept = np.zeros(len(visitors))
    for event in events:
        if event.kind == "concept_drift":
            strength = np.array([_strength(event, d) for d in range(int(day.max()) + 1)])
            concept = np.maximum(concept, strength[day])
    usual = _category_logits(visitors)  # the model knows the usual habits only
    truth = _softmax((1 - concept[:, None]) * usual + concept[:, None] * _CATEGORY_SHIFTED)
    model = _softmax(usual)
    model = _softmax(np.log(model) + rng.normal(0, 0.35, model.shape))
    model = np.round(model, 4)
    model[:, 0] = np.clip(np.round(1 - model[:, 1:].sum(axis=1), 4), 0, 1)  # rows sum to 1
    predictions = pd.DataFrame(model, columns=[f"p_{c}" for c in CATEGORIES])
    predictions["predicted_category"] = np.asarray(CATEGORIES, dtype=object)[model.argmax(axis=1)]
    drawn = (truth.cumsum(axis=1) < rng.random((len(visitors), 1))).sum(axis=1)
    labels = pd.DataFrame(
        {
            "request_id": visitors["request_id"].to_numpy(),
            "next_category": np.asarray(CATEGORIES, dtype=object)[np.minimum(drawn, 5)],
            "labelled_at": (visitors["event_ts"] + NEXT_CATEGORY_LABEL_DELAY).array,
        }
    )
    return predictions.set_axis(visitors.index), labels
