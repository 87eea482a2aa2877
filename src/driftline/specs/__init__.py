"""Model specs."""

from driftline.specs.spec import *  # noqa: F403  (temporary while splitting)
