"""`pgcli.estimate(...)`, `pgcli.optimize(...)` and `pgcli.train(...)` call the Python API.

Those names are also the modules of the core (`from pgcli import estimate as estimate_core`), and
Python sets a package's attribute to its submodule when it is imported, so a function of the same
name could not survive. Instead the three modules are callable: calling one calls the function of
that name in pgcli.api (loaded on first call).
"""

import types


class CallableModule(types.ModuleType):
    """A module whose call is pgcli.api.<its last name>(...)."""

    def __call__(self, *args, **kwargs):
        from pgcli import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)
