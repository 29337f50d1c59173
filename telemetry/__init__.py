"""Operability shared by every entry point: correlation ids, structured logs, Prometheus metrics.

Imports nothing from the rest of the project, so services, brokers and servers can all use it.
"""
