"""queue-chaos: real network faults between a Redis queue's writes, and a checker."""

__version__ = "0.1.0"
