"""Each topic prefix and state generation keeps its own local table files: a new generation (form4 reprocess)
that read the old one's RocksDB files would find every filing already seen."""

from __future__ import annotations

from pathlib import Path

from streams.app import create_app
from streams.settings import Settings


def test_each_prefix_and_generation_has_its_own_table_files(tmp_path: Path) -> None:
    dirs = {
        create_app(
            Settings(data_dir=tmp_path, topic_prefix=prefix, state_generation=generation)
        ).conf.tabledir
        for prefix in ("form4", "other")
        for generation in (1, 2)
    }
    assert len(dirs) == 4 and all(Path(d).is_relative_to(tmp_path) for d in dirs)
