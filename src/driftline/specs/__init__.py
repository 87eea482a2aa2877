"""Model specs: the typed form of ``monitors/<model>.yaml``.

Every section is a pydantic model with ``extra="forbid"``, so a typo is an error that
names the file, the key and the keys that are allowed. Field descriptions are the
reference documentation of the YAML (keep the README's spec tables in step with them).
"""

from __future__ import annotations

from driftline.specs.alerts import AlertsSection
from driftline.specs.calendar import CalendarEvent, CalendarSection
from driftline.specs.common import Duration
from driftline.specs.loader import (
    SpecScan,
    find_spec,
    list_specs,
    load_spec,
    parse_spec,
    scan_specs,
)
from driftline.specs.model import RESERVED_COLUMNS, Features, ModelSection
from driftline.specs.monitoring import (
    DataQuality,
    DriftRule,
    DriftSection,
    FalseDiscovery,
    Monitoring,
    MultivariateDrift,
    Performance,
    Persistence,
    Policy,
    PredictionDrift,
    SegmentDrift,
)
from driftline.specs.promotion import PromotionSection
from driftline.specs.reports import ReportsSection
from driftline.specs.source import SourceLabels, SourceSection
from driftline.specs.spec import ModelSpec
from driftline.specs.training import TrainingSection

__all__ = [
    "RESERVED_COLUMNS",
    "AlertsSection",
    "CalendarEvent",
    "CalendarSection",
    "DataQuality",
    "DriftRule",
    "DriftSection",
    "Duration",
    "FalseDiscovery",
    "Features",
    "ModelSection",
    "ModelSpec",
    "Monitoring",
    "MultivariateDrift",
    "Performance",
    "Persistence",
    "Policy",
    "PredictionDrift",
    "PromotionSection",
    "ReportsSection",
    "SegmentDrift",
    "SourceLabels",
    "SourceSection",
    "SpecScan",
    "TrainingSection",
    "find_spec",
    "list_specs",
    "load_spec",
    "parse_spec",
    "scan_specs",
]
