"""Drift monitoring: a window against the champion's baseline (engines), data quality,
the decision policy, and the record of monitor runs."""
