"""What tests and bench share: paths and fixtures, ports, polling, processes, TLS, fakes, reports.

Support, not tests: nothing here is collected by pytest, and no test module imports another.
"""
