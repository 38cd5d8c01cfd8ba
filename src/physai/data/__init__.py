"""Datasets in the LeRobot v3.0 format: writer, recorder, reader, video, stats, repair, convert, multi."""

from physai.data.dataset import Dataset
from physai.data.meta import DatasetMeta
from physai.data.multi import MultiDataset
from physai.data.recorder import Recorder, env_features
from physai.data.writer import DatasetWriter

__all__ = ["Dataset", "DatasetMeta", "DatasetWriter", "MultiDataset", "Recorder", "env_features"]
