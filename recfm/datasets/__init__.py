"""Data for recfm: MovieLens loaders, a MovieLens-shaped synthetic generator, CSV files.

Main entry points: :func:`load_dataset` (by name or CSV path), :func:`load_movielens`,
:func:`make_synthetic`, :func:`load_sample`, :func:`dataset_status` and
:func:`get_data_home` (argument > ``RECFM_DATA`` > user cache directory);
:func:`load_with_attributes` adds a user's own attribute files.
"""
from recfm.datasets.attributes import attach_attributes, load_with_attributes, read_attributes
from recfm.datasets.dataset import NO_RATINGS, NO_TIMES, Dataset
from recfm.datasets.download import ARCHIVES, Archive, DataNotFoundError, fetch_archive, verify_file
from recfm.datasets.files import (
    DATASET_NAMES,
    SAMPLE_DIR,
    dataset_status,
    frame_dataset,
    is_parquet,
    load_dataset,
    load_sample,
    read_attributes_csv,
    read_context_csv,
    read_interactions_csv,
    write_sample,
    write_table,
)
from recfm.datasets.home import get_data_home
from recfm.datasets.matrix import interactions_frame
from recfm.datasets.movielens import (
    SUPPORTED,
    ChecksumWarning,
    MovieLensInfo,
    load_movielens,
)
from recfm.datasets.synthetic import (
    SAMPLE_PARAMS,
    SYNTHETIC_SIZES,
    make_synthetic,
    make_synthetic_like,
)

__all__ = [
    "interactions_frame",
    "ARCHIVES",
    "Archive",
    "attach_attributes",
    "load_with_attributes",
    "read_attributes",
    "ChecksumWarning",
    "DATASET_NAMES",
    "DataNotFoundError",
    "Dataset",
    "NO_RATINGS",
    "NO_TIMES",
    "MovieLensInfo",
    "SAMPLE_DIR",
    "SAMPLE_PARAMS",
    "SUPPORTED",
    "SYNTHETIC_SIZES",
    "dataset_status",
    "fetch_archive",
    "get_data_home",
    "is_parquet",
    "frame_dataset",
    "load_dataset",
    "load_movielens",
    "load_sample",
    "make_synthetic",
    "make_synthetic_like",
    "read_attributes_csv",
    "read_context_csv",
    "read_interactions_csv",
    "verify_file",
    "write_sample",
    "write_table",
]
