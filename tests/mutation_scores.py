"""Mutation scores per module from mutmut's results (mutants/**/*.py.meta), for `make mutation`.

    python tests/mutation_scores.py pgcli.lab.estimators pgcli.rl.advantages ...

For each module: killed / mutants (a mutant is killed when a test failed, errored, or ran out of
time under it), then each mutant that was not killed, by name (`mutmut show NAME` prints its diff).
Exits 1 when a module has mutants that were never run."""

import json
import sys
from pathlib import Path

KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "crashed", -9: "crashed"}  # fmt: skip
OTHER = {0: "survived", 5: "no tests", 33: "no tests", None: "not checked"}


def results(module: str) -> dict[str, int | None]:
    """{mutant name: mutmut's exit code} of one module, e.g. pgcli.rl.advantages."""
    meta = Path("mutants") / (module.replace(".", "/") + ".py.meta")
    return json.loads(meta.read_text())["exit_code_by_key"]


def main(modules: list[str]) -> int:
    unchecked = False
    for module in modules:
        codes = results(module)
        killed = sum(code in KILLED for code in codes.values())
        print(f"{module}: {killed} of {len(codes)} mutants killed ({100 * killed / len(codes):.1f} %)")
        for name, code in sorted(codes.items()):
            if code not in KILLED:
                print(f"    {OTHER.get(code, f'exit {code}')}: {name}")
                unchecked |= code is None
    return 1 if unchecked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
