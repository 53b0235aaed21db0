"""Where the lake's files live: a local folder, or S3 through pyarrow's own S3 filesystem.

``Lake.open("s3://bucket/prefix")`` uses the AWS SDK's usual credential chain (environment, profile,
instance role); ``OPSWARDEN_LAKE_S3_ENDPOINT`` points it at an S3-compatible store. A local path is
made absolute and created on first write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs


@dataclass(frozen=True)
class Lake:
    fs: pafs.FileSystem
    root: str  # path of the lake's root inside ``fs`` (no trailing slash)
    uri: str  # as configured, for messages

    @classmethod
    def open(cls, uri: str, *, s3_endpoint: str | None = None) -> Lake:
        if uri.startswith("s3://"):
            bucket_and_prefix = uri.removeprefix("s3://").rstrip("/")
            options = {"endpoint_override": s3_endpoint} if s3_endpoint else {}
            return cls(pafs.S3FileSystem(**options), bucket_and_prefix, uri)
        if "://" in uri:
            raise ValueError(f"lake URI {uri!r}: use a folder path or s3://bucket/prefix")
        root = str(Path(uri).expanduser().resolve())
        return cls(pafs.LocalFileSystem(), root, uri)

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def files(self, relative: str) -> list[str]:
        """Every Parquet file below ``relative`` (full paths inside ``fs``), sorted; none if absent."""
        selector = pafs.FileSelector(self.path(relative), recursive=True, allow_not_found=True)
        return sorted(
            info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
        )
