"""The base layer: what both cores share with the shell (spec fields, progress, targets).

Imports nothing of pgcli's; everything else may import it.
"""
