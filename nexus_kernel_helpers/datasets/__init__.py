"""Datasets: built-in generated data, kept as templates and reset fast; your own data loaded.

Usage::

    db = nx.start_database(dataset="shop", scale=0.01)  # generated once per server, cloned
    db.reset()  # back to the fresh clone
    db.describe()  # tables, rows, sizes, keys, indexes
    db.load_sql("pagila.sql")  # or load_dump("x.dump"), load_csv("x.csv", "table")
    db.dump("mine.dump")  # pg_dump -Fc of the current database
"""

from ._describe import Description, TableInfo, describe
from ._generate import available_datasets
from ._loaders import LoadReport, dump, load_csv, load_dump, load_sql
from ._templates import DatasetState, load_dataset, reset_dataset

__all__ = [
    "DatasetState",
    "Description",
    "LoadReport",
    "TableInfo",
    "available_datasets",
    "describe",
    "dump",
    "load_csv",
    "load_dataset",
    "load_dump",
    "load_sql",
    "reset_dataset",
]
