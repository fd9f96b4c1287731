"""pgcli: the log-derivative trick as command-line experiments."""

__version__ = "0.1.0"
