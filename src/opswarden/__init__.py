"""opswarden: a virtual operations supervisor for AWS organisations."""

__version__ = "0.1.0"
