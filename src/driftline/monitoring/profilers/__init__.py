"""Profilers that run where the data lives and return the profiles of
:mod:`driftline.monitoring.profiles` (the same ones the local path computes):

- :mod:`driftline.monitoring.profilers.database`: aggregate SQL inside PostgreSQL, no rows
  shipped;
- :mod:`driftline.monitoring.profilers.spark`: PySpark, the local profiler per partition,
  profiles merged (the optional extra ``driftline[spark]``).
"""
