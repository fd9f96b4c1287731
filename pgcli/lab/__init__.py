"""The Monte Carlo lab: distributions, f, gradient estimators, exact gradients, and the lab's
experiment kinds (estimate, fisher, optimize). Pure NumPy/SciPy; imports pgcli.base only.
"""
