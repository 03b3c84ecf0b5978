"""Evaluation scripts (run as ``python eval/run_<name>.py``); a package so they can share ``_common``."""
