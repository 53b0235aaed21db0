"""Lake upkeep: compaction of small files and retention of old partitions.

Micro-batches leave many small files per partition. ``compact`` rewrites each partition that has
more than ``min_files`` files into one, dropping exact copies (the same ``lake_seq``, left by an
archive batch that was repeated after a crash) and keeping every other row; the new file is written
before the old ones are removed, so a crash in between leaves copies that readers already ignore.
``expire`` deletes whole ``dt`` partitions older than the retention (none by default: the lake keeps
everything unless told otherwise).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from opswarden.lake.fs import Lake
from opswarden.lake.layout import TABLES, day
from opswarden.lake.verify import partitions_of


@dataclass(slots=True)
class CompactSummary:
    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    copies_dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "partitions": self.partitions,
            "files_before": self.files_before,
            "files_after": self.files_after,
            "rows": self.rows,
            "copies_dropped": self.copies_dropped,
        }


def compact(lake: Lake, *, min_files: int = 2) -> CompactSummary:
    summary = CompactSummary()
    for table, spec in TABLES.items():
        for partition in partitions_of(lake, table):
            files = lake.files(partition)
            if len(files) < min_files:
                continue
            parts = [pq.read_table(f, filesystem=lake.fs, schema=spec.schema) for f in files]
            data = pa.concat_tables(parts).sort_by("lake_seq")
            unique = _drop_copies(data)
            first, last = unique["lake_seq"][0].as_py(), unique["lake_seq"][-1].as_py()
            folder = lake.path(partition)
            name = f"part-{first:012d}-{last:012d}-c{uuid.uuid4().hex[:7]}.parquet"
            if lake.local:
                temporary = f"{folder}/.{name}.tmp"
                pq.write_table(unique, temporary, filesystem=lake.fs, compression="zstd")
                lake.fs.move(temporary, f"{folder}/{name}")
            else:
                pq.write_table(unique, f"{folder}/{name}", filesystem=lake.fs, compression="zstd")
            for old in files:
                lake.fs.delete_file(old)
            summary.partitions += 1
            summary.files_before += len(files)
            summary.files_after += 1
            summary.rows += unique.num_rows
            summary.copies_dropped += data.num_rows - unique.num_rows
    return summary


def _drop_copies(data: pa.Table) -> pa.Table:
    """Rows with a ``lake_seq`` seen before (sorted input) are copies of it."""
    seq = data["lake_seq"]
    if data.num_rows < 2:
        return data
    previous = pa.concat_arrays([pa.array([None], pa.int64()), seq.combine_chunks()[:-1]])
    keep = pc.fill_null(pc.not_equal(seq, previous), True)
    return data.filter(keep)


def expire(lake: Lake, retention_days: int, now: datetime) -> list[str]:
    """Delete ``dt`` partitions older than the retention; the partitions deleted."""
    cutoff = day(now - timedelta(days=retention_days))
    gone = []
    for table in TABLES:
        for partition in partitions_of(lake, table):
            dt = partition.rsplit("dt=", 1)[-1]
            if dt < cutoff:
                lake.fs.delete_dir(lake.path(partition))
                gone.append(partition)
    return gone


def retention_cutoff(retention_days: int | None, now: datetime) -> str | None:
    return None if retention_days is None else day(now - timedelta(days=retention_days))
