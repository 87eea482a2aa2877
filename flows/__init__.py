"""Prefect flows (installed as ``driftline.flows``). A flow reads like a table of
contents: each step is a call into the core, Prefect adds schedules, retries, state,
events and artifacts."""
