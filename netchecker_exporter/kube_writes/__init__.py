"""Writes to the Kubernetes API: node Events, Node conditions, and the Lease that picks one writer.

An edge: the only package besides pods/ that imports the official `kubernetes` client.
"""
