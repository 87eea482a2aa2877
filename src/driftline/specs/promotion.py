"""The ``promotion:`` section: the gates a challenger must pass to become champion."""

from __future__ import annotations

from pydantic import Field

from driftline.specs.common import Section


class PromotionSection(Section):
    """The gates a challenger must pass to become champion.

    The champion gates (improvement, non-inferiority, segments, relative calibration)
    are skipped, and recorded as skipped, when the model has no champion yet.
    """

    primary_metric: str = Field(
        default="roc_auc",
        description="Metric the improvement and the bootstrap refer to: one of the primary "
        "metrics of the model's task (binary_classification: roc_auc, pr_auc; regression: "
        "mae, rmse, r2, deviance, gini; multiclass_classification: roc_auc_macro, the "
        "default for it, roc_auc_weighted, accuracy, f1_macro). Every margin below is in "
        "this metric's units and follows its direction (for an error such as mae, lower is "
        "better).",
    )
    min_primary_metric: float = Field(
        default=0.55,
        description="Absolute floor: the challenger's primary metric on the benchmark "
        "window must reach this, champion or not. For a metric where lower is better it is "
        "a ceiling (the challenger's mae must be at most this), and the spec must set it: "
        "the default is a ROC AUC.",
    )
    min_improvement: float = Field(
        default=0.005,
        ge=0,
        description="The challenger's primary metric must beat the champion's by at least "
        "this much (absolute; lower by this much for an error) on the benchmark window.",
    )
    non_inferiority_margin: float = Field(
        default=0.0,
        ge=0,
        description="The paired bootstrap confidence interval of (challenger - champion) "
        "must not reach further than this into the worse side: its lower bound at least "
        "-margin (upper bound at most +margin for an error). 0 asks for a significant gain.",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="Confidence level of the bootstrap interval."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=100, le=20_000, description="Paired bootstrap resamples."
    )
    max_segment_regression: float = Field(
        default=0.02,
        ge=0,
        description="No segment (value of a model.segments column) with enough rows may "
        "lose more than this on the primary metric against the champion (in the metric's "
        "direction: an error may rise by at most this).",
    )
    min_segment_rows: int = Field(
        default=500,
        ge=1,
        description="Segments with fewer benchmark rows (or, for a classifier, a single "
        "class) are reported but not gated.",
    )
    max_class_recall_drop: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Multiclass models: no class's recall on the benchmark window may fall "
        "more than this (absolute) below the champion's (the class_recall gate).",
    )
    max_calibration_increase: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Expected calibration error (10 bins) may grow by at most this much "
        "over the champion's.",
    )
    max_ece: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="Absolute ceiling on the challenger's expected calibration error.",
    )
    min_rows_per_second: float = Field(
        default=5000,
        ge=0,
        description="Latency budget: batch scoring throughput on the benchmark window.",
    )
    max_model_mb: float = Field(
        default=50,
        gt=0,
        description="Size budget of the serialised model, in MB (1,000,000 bytes).",
    )
    manual_approval: bool = Field(
        default=False,
        description="Ask a person to approve in the Prefect UI (retrain flow) or with "
        "`driftline promote --approve` after every other gate has passed.",
    )
    approval_timeout_hours: float = Field(
        default=24,
        gt=0,
        description="Without an answer after this long the retrain flow rejects.",
    )
