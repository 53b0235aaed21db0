"""The event lake: every version, decision and audit row archived as hive-partitioned Parquet
(docs/lake.md). Needs the ``lake`` extra (pyarrow, DuckDB)."""
