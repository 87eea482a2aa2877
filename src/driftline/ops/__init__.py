"""Operating driftline: the deployment plan rendered from specs, and Evidently dashboards."""
