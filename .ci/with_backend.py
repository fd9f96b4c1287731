"""Copies of train spec files with `env.backend` set, for checking their expectations on another
vector-env engine (`make check` runs the quick CartPole specs on EnvPool too, since `pgcli check`
takes spec files as written):

    python .ci/with_backend.py envpool OUT_DIR pgcli/library/cartpole.yaml ...

A copy keeps the spec's name, so check it into a results root of its own (--results).
"""

import sys
from pathlib import Path

import yaml

backend, out, *specs = sys.argv[1:]
Path(out).mkdir(parents=True, exist_ok=True)
for path in map(Path, specs):
    spec = yaml.safe_load(path.read_text())
    spec["env"] = {**spec.get("env", {}), "backend": backend}
    spec.setdefault("name", path.stem)
    (Path(out) / path.name).write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
