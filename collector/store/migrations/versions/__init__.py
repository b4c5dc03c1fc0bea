"""One file per revision, named ``NNNN_what.py`` with ``revision = "NNNN"``."""
