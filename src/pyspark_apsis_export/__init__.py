"""Spark's automatic registration of the ``apsis_export`` data source.

PySpark (4.0+) imports each top-level module named ``pyspark_*`` on its Python path and
registers the module's ``DefaultSource``: with this package installed (and pyspark, the
``apsis-export[spark]`` extra), ``spark.read.format("apsis_export")`` needs no register call.
"""

from apsis_export.spark import ApsisExportDataSource as DefaultSource

__all__ = ["DefaultSource"]
