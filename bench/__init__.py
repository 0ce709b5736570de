"""Benchmarks: ``python -m bench`` runs all, ``python -m bench NAME`` one.

Each benchmark measures the connector against a baseline in the same run where one exists, and
returns figures; the runner ends with one line per figure, ``name = value unit``.
"""
