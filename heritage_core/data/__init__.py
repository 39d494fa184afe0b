"""Data layer: readers for ARTeFACT parquet, metadata folders and binary-mask folders; the ingest cache."""
from heritage_core.data.cache import LABEL_LEVELS as LABEL_LEVELS
from heritage_core.data.cache import Cache as Cache
from heritage_core.data.cache import Record as Record
from heritage_core.data.cache import open_cache as open_cache
