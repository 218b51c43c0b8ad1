"""Every notebook's exercises; importing this package registers them all."""

from labkit.exercises.sets import metrics  # noqa: F401

__all__ = ["metrics"]
