"""The demo data set that `make run` loads into an empty database, so a newcomer sees a book at once.

It arrives through the hospital intake (pushed like any hospital would), which is the next piece of work;
until then there is nothing to load and this says so.
"""

from backend.demo._load import load_demo_if_empty

__all__ = ["load_demo_if_empty"]
