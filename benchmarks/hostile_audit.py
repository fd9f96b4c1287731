"""A fresh hostile-input audit of the installed `pgcli` (issue 21), independent of tests/shell/.

Every case builds its own temporary directory (work/: the working directory and the spec's directory;
outside/: files a hostile spec should never reach, and the marker files that hostile code would write),
runs the venv's real `pgcli` console script (or its Python, for the API) as a subprocess with stdin
closed, stdout and stderr pipes and a 60 s timeout, then judges the result against the contract of
README.md and docs/security.md:

- bad input: exit 2, exactly one non-empty stderr line starting `Error:` (`note:` lines aside), nothing
  on stdout, no file created or changed anywhere in the case's tree;
- user code misbehaving at run time: exit 1, a line naming the module or the run's error/output file,
  stdout free of the user's output, nothing outside the results root;
- a hang bounded by the spec's `timeout`: exit 1 with a "timed out" message, well within 60 s;
- every case: no `Traceback` on stdout or stderr, no marker file, nothing under outside/ created or changed,
  and an end within 60 s.

    nice -n 10 .venv/bin/python benchmarks/hostile_audit.py [--jobs 2] [--only SUBSTRING] [--verbose]

Prints one line per broken case (its reproducer and what it did) and a final "N cases, K kept the contract"
line; exit status 1 if any case broke. Standard library and the installed pgcli only.
"""

import argparse
import contextlib
import hashlib
import http.server
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent
PGCLI = str(BIN / "pgcli")
PY = sys.executable
TIMEOUT = 60
MARK = "HOSTILE"  # text hostile code prints; must never reach pgcli's stdout
CASES = []  # (section, name, build); build(d: Path) -> dict describing the run
SERVERS = {}  # name -> "127.0.0.1:PORT", started once by main()


def case(section, name, build):
    CASES.append((section, name, build))


# ---------------------------------------------------------------- file helpers


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def marker_code(tag="import"):
    """Python that, if ever executed, proves code ran: it creates outside/MARKER-<tag>."""
    return f"open({{OUT!r}} + '/MARKER-{tag}', 'w').write('ran')\n"


def evil_module(d, path, tag="import", body="def f(x):\n    return x\n"):
    """A module that writes a marker when imported."""
    code = marker_code(tag).replace("{OUT!r}", repr(str(d / "outside")))
    return write(path, code + body)


EST = "kind: estimate\ndist: gaussian\nn: 10\nreps: 2\nestimators: [score]\n"
OPT = "kind: optimize\ndist: gaussian\nestimator: score\nn: 8\nsteps: 3\n"
SEQ = "kind: sequence\ntask: {prompts: 2, vocab: 2, max_len: 2}\nreps: 3\nn_groups: 1\ngroup_size: 2\n"
FT = "kind: finetune\ntask: {prompts: 2, vocab: 2, max_len: 2}\nsteps: 2\nn_groups: 1\ngroup_size: 2\n"
TRAIN = (
    "kind: train\nenv: {id: CartPole-v1, num_envs: 2}\npolicy: {kind: mlp, hidden: [4]}\nbatch: {episodes: 2}\n"
    "stop: {iterations: 2}\neval: {every: 0}\n"
)
FISHER = "kind: fisher\ndist: gaussian\nn: 100\n"


def spec(d, text, name="s.yaml"):
    write(d / "work" / name, text)
    return name


# ---------------------------------------------------------------- snapshots and judging


def snapshot(root):
    """path -> (kind, content digest or link target), without following symlinks or opening FIFOs."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [n for n in dirnames if n != "__pycache__"]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[p] = ("dir", "")
            elif os.path.isfile(p):
                if st.st_size > 10_000_000:  # sparse giants: size and mtime stand for the content
                    out[p] = ("file", f"{st.st_size}:{st.st_mtime_ns}")
                else:
                    out[p] = ("file", hashlib.sha256(Path(p).read_bytes()).hexdigest())
            else:
                out[p] = ("special", str(st.st_mode))
    return out


def diff(before, after):
    created = sorted(set(after) - set(before))
    changed = sorted(p for p in set(after) & set(before) if after[p] != before[p])
    removed = sorted(set(before) - set(after))
    return created, changed, removed


def run(cmd, cwd, env, timeout=TIMEOUT):
    """(returncode or None on timeout, stdout, stderr, seconds); the whole process group is ended on timeout."""
    t0 = time.monotonic()
    try:
        return _run(cmd, cwd, env, timeout, t0)
    except (OSError, ValueError) as err:  # the case itself cannot be passed to exec (argv too long, a NUL)
        return "unrunnable", "", f"{type(err).__name__}: {err}", 0.0


def _run(cmd, cwd, env, timeout, t0):
    p = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = None
    with contextlib.suppress(ProcessLookupError):  # whatever the case left behind (a worker, a grandchild)
        os.killpg(p.pid, signal.SIGKILL)
    return rc, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0


def lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


def message_lines(err):
    """stderr's lines that are not notes or progress bars."""
    return [ln for ln in lines(err) if not ln.startswith("note:") and "it/s]" not in ln and "s/it]" not in ln]


def one_error_line(err):
    msg = message_lines(err)
    if len(msg) != 1 or not msg[0].startswith("Error:"):
        return f"stderr is not one 'Error:' line: {msg[:4]!r}"
    return None


def judge(spec_, rc, out, err, secs, d, before, after):
    """The list of ways this run broke the contract (empty: kept it)."""
    problems = []
    expect = spec_["expect"]
    if rc == "unrunnable":
        return [f"the audit could not start this case: {err}"]
    if rc is None:
        return [f"did not end within {TIMEOUT} s (killed); stderr tail {lines(err)[-2:]!r}"]
    if "Traceback" in out or "Traceback" in err:
        tb = [ln for ln in (err + out).splitlines() if ln.strip()][-1:]
        problems.append(f"traceback (exit {rc}; last line {tb!r})")
    created, changed, removed = diff(before, after)
    outside = str(d / "outside")
    markers = [p for p in created if "MARKER" in os.path.basename(p)]
    if markers:
        problems.append(f"code ran: {[os.path.relpath(m, d) for m in markers]}")
    hit = [os.path.relpath(p, d) for p in created + changed + removed if p.startswith(outside) and p not in markers]
    if hit:
        problems.append(f"touched outside/: {hit[:4]}")
    allowed = [str(d / a) for a in spec_.get("may_write", ["work/results"])]

    def stray():
        return [
            os.path.relpath(p, d)
            for p in created + changed
            if not any(p == a or p.startswith(a + os.sep) for a in allowed) and not p.startswith(outside)
        ]

    if expect == "bad":
        if rc != 2:
            problems.append(f"exit {rc}, expected 2")
        e = one_error_line(err)
        if e:
            problems.append(e)
        if out.strip():
            problems.append(f"stdout not empty: {lines(out)[:2]!r}")
        wrote = [os.path.relpath(p, d) for p in created + changed if not p.startswith(outside)]
        if wrote:
            problems.append(f"wrote files: {wrote[:4]}")
    elif expect in ("user", "user_or_bad"):
        ok = {1} if expect == "user" else {1, 2}
        if rc not in ok:
            problems.append(f"exit {rc}, expected {sorted(ok)}")
        names = spec_.get("names", ["hmod", "error.txt", "output.txt"])
        if rc in ok and not any(n in err for n in names):
            problems.append(f"no line names the module or its error file: {message_lines(err)[-2:]!r}")
        if rc == 2 and one_error_line(err):
            problems.append(one_error_line(err))
        if MARK in out:
            problems.append(f"user output on pgcli's stdout: {[ln for ln in lines(out) if MARK in ln][:2]!r}")
        if stray():
            problems.append(f"wrote outside the results root: {stray()[:4]}")
    elif expect == "clean":  # user code that prints or closes stdout: the run is done, stdout is pgcli's own
        if rc != 0:
            problems.append(f"exit {rc}, expected 0; stderr {message_lines(err)[-2:]!r}")
        if MARK in out or MARK in err:
            problems.append("user output reached pgcli's stdout/stderr")
        if "wrote " not in out:
            problems.append(f"pgcli's own table/'wrote' line missing from stdout: {lines(out)[-2:]!r}")
        if stray():
            problems.append(f"wrote outside the results root: {stray()[:4]}")
    elif expect == "hang":
        if rc != 1:
            problems.append(f"exit {rc}, expected 1")
        if "timed out" not in err:
            problems.append(f"no 'timed out' message: {message_lines(err)[-2:]!r}")
        if secs > 40:
            problems.append(f"took {secs:.0f} s for a 2 s timeout")
    elif expect in ("api", "api_or_ok", "api_or_typeerror"):
        accepted = {"api": ("PGCLI_ERROR", "SUCCESS bool True"), "api_or_ok": ("PGCLI_ERROR", "SUCCESS"),
                    "api_or_typeerror": ("PGCLI_ERROR", "OTHER TypeError"),}[expect]  # fmt: skip
        if not out.startswith(accepted):
            problems.append(f"API did not raise PgcliError: {(lines(out) or lines(err) or ['(nothing)'])[-1][:200]!r}")
        if stray():
            problems.append(f"wrote files: {stray()[:4]}")
    elif expect == "ok_noexec":  # e.g. --print-spec of a spec naming a trusted module: prints, imports nothing
        if rc != 0:
            problems.append(f"exit {rc}, expected 0: {message_lines(err)[-1:]!r}")
        if stray():
            problems.append(f"wrote files: {stray()[:4]}")
    elif expect in ("refuse_or_ok", "refuse_or_fail"):
        # a one-line refusal (exit 2), or the work done properly (exit 0); refuse_or_fail also allows a one-line
        # failure (exit 1: e.g. a full disk, a dead scheduler)
        ok = {0, 2} if expect == "refuse_or_ok" else {0, 1, 2}
        if rc not in ok:
            problems.append(f"exit {rc}, expected one of {sorted(ok)}: {message_lines(err)[-2:]!r}")
        elif rc == 2 and one_error_line(err):
            problems.append(one_error_line(err))
        elif (
            rc == 1 and len(message_lines(err)) != 1 and "runs not done" not in err
        ):  # one line, or the failed runs' table
            problems.append(f"exit 1 without one line: {message_lines(err)[:3]!r}")
        if stray():
            problems.append(f"wrote outside the results root/its output: {stray()[:4]}")
        if rc == 2:
            wrote = [os.path.relpath(p, d) for p in created + changed if not p.startswith(outside)]
            wrote = [w for w in wrote if not any(w.startswith(a) for a in spec_.get("pre_written", []))]
            if wrote and not spec_.get("pre"):
                problems.append(f"refused but wrote files: {wrote[:4]}")
    else:
        raise ValueError(expect)
    if spec_.get("check"):
        problems += spec_["check"](rc, out, err, d)
    return problems


def execute(section, name, build, root, verbose):
    d = Path(tempfile.mkdtemp(prefix=f"{section}-", dir=root))
    for sub in ("work", "outside", "home", "tmp"):
        (d / sub).mkdir()
    spec_ = build(d)
    env = dict(os.environ)
    env.update(HOME=str(d / "home"), TMPDIR=str(d / "tmp"), MPLCONFIGDIR=str(root / "mpl"), COLUMNS="200")
    env.pop("PYTHONPATH", None)
    env.update(spec_.get("env", {}))
    for pre in spec_.get("pre", []):  # set-up runs (a small sweep to plant symlinks into)
        rc, out, err, _ = run(pre, d / "work", env)
        if rc != 0:
            return section, name, spec_, [f"set-up run failed (exit {rc}): {lines(err)[-1:]!r}"], 0.0
    if spec_.get("plant"):
        spec_["plant"](d)
    before = snapshot(d)
    rc, out, err, secs = run(spec_["cmd"], d / "work", env, spec_.get("timeout", TIMEOUT))
    after = snapshot(d)
    problems = judge(spec_, rc, out, err, secs, d, before, after)
    if verbose:
        print(f"[{section}] {name}: exit {rc} {secs:.1f}s {lines(err)[-1:]!r}", flush=True)
    if not problems:
        shutil.rmtree(d, ignore_errors=True)
    else:
        spec_["dir"] = d
    return section, name, spec_, problems, secs


def reproducer(spec_):
    cmd = [("pgcli" if c == PGCLI else "python" if c == PY else c) for c in spec_["cmd"]]
    text = shlex.join(cmd)
    if len(text) > 300:
        text = text[:300] + " …"
    env = " ".join(f"{k}={v}" for k, v in spec_.get("env", {}).items())
    return (env + " " if env else "") + text + f"   (in {spec_['dir']}/work)"


# ---------------------------------------------------------------- (1) a spec cannot run code

STDLIB_REFS = [
    "pickle:loads", "_pickle:loads", "cloudpickle:loads", "this:x", "idlelib.idle:x", "venv.__main__:x", "os:system",
    "builtins:eval", "numpy:load", "yaml:load", "antigravity:x", "subprocess:run", "ctypes:CDLL", "runpy:run_path",
    "code:interact", "webbrowser:open", "importlib:import_module", "__main__:f", "__hello__:main", "__phello__:x",
    "pgcli.shell.cli:main", "pgcli:run", "_posixsubprocess:fork_exec", "marshal:loads", "shelve:open",
    "encodings.idna:x", "ensurepip.__main__:x", "pip:main", "pydoc:cli", "json.tool:main", "http.server:test",
    "timeit:main", "zipapp:main", "dask.distributed:Client", "matplotlib.pyplot:show", "gymnasium:make",
]  # fmt: skip


def ref_in_estimate_spec(ref):
    def build(d):
        return {"cmd": [PGCLI, "estimate", spec(d, EST + f"f: {ref}\n")], "expect": "bad"}

    return build


for _ref in STDLIB_REFS:
    case("1-code", f"estimate spec f: {_ref}", ref_in_estimate_spec(_ref))

ROUTE_REFS = ["pickle:loads", "this:x", "venv.__main__:x", "os:system", "evilpkg:f"]


def evil_on_path(d):
    """evilpkg: an 'installed' module (on PYTHONPATH, outside the spec's directory) that writes a marker."""
    evil_module(d, d / "outside" / "site" / "evilpkg.py")
    return {"PYTHONPATH": str(d / "outside" / "site")}


def route(kind, ref):
    def build(d):
        env = evil_on_path(d)
        w = d / "work"
        if kind == "print-spec":
            cmd = [PGCLI, "estimate", spec(d, EST + f"f: {ref}\n"), "--print-spec"]
        elif kind == "check":
            cmd = [PGCLI, "check", spec(d, EST + f"f: {ref}\n")]
        elif kind == "set-grid":
            cmd = [PGCLI, "estimate", spec(d, EST + "f: step\n"), "--set-grid", f"f={ref},step"]
        elif kind == "sweep-grid":
            cmd = [PGCLI, "estimate", spec(d, EST + f"f: step\nsweep:\n  grid:\n    f: [step, '{ref}']\n")]
        elif kind == "set":
            cmd = [PGCLI, "estimate", spec(d, EST + "f: step\n"), "--set", f"f={ref}"]
        elif kind == "cli-f":
            cmd = [PGCLI, "estimate", "--dist", "gaussian", "--n", "10", "--reps", "2", "--f", ref]
        elif kind == "optimize":
            cmd = [PGCLI, "optimize", spec(d, OPT + f"f: {ref}\n")]
        elif kind == "env.id":
            cmd = [PGCLI, "train", spec(d, TRAIN.replace("CartPole-v1", ref))]
        elif kind == "sequence":
            cmd = [PGCLI, "sequence", spec(d, SEQ + f"reward: {{name: '{ref}'}}\n")]
        elif kind == "finetune":
            cmd = [PGCLI, "finetune", spec(d, FT + f"reward: {{name: '{ref}'}}\n")]
        elif kind == "trust-stdlib":  # --trust the standard library's own directory
            cmd = [PGCLI, "estimate", spec(d, EST + f"f: {ref}\n"), "--trust", os.path.dirname(os.__file__)]
        elif kind == "spec-in-subdir":  # the spec in a subdirectory, --trust of the working directory
            (w / "sub").mkdir()
            cmd = [PGCLI, "estimate", "sub/" + spec(d, EST + f"f: {ref}\n", "sub/s.yaml"), "--trust", "."]
        else:
            raise ValueError(kind)
        return {"cmd": cmd, "expect": "bad", "env": env}

    return build


for _kind in ["print-spec", "check", "set-grid", "sweep-grid", "set", "cli-f", "optimize", "env.id", "sequence",
              "finetune", "trust-stdlib", "spec-in-subdir"]:  # fmt: skip
    for _ref in ROUTE_REFS:
        case("1-code", f"{_kind} {_ref}", route(_kind, _ref))


def shadow(modname, ref):
    def build(d):
        evil_module(d, d / "work" / f"{modname}.py", body="def load(x):\n    return x\ndef x(v):\n    return v\n")
        return {"cmd": [PGCLI, "estimate", spec(d, EST + f"f: {ref}\n")], "expect": "bad"}

    return build


case("1-code", "yaml.py beside the spec, f: yaml:load", shadow("yaml", "yaml:load"))
case("1-code", "numpy.py beside the spec, f: numpy:x", shadow("numpy", "numpy:x"))
case("1-code", "click.py beside the spec, f: click:x", shadow("click", "click:x"))
case("1-code", "pgcli.py beside the spec, f: pgcli:x", shadow("pgcli", "pgcli:x"))
case("1-code", "os.py beside the spec, f: os:x", shadow("os", "os:x"))


def symlinked(kind):
    def build(d):
        if kind == "file":
            evil_module(d, d / "outside" / "lnk.py")
            (d / "work" / "lnk.py").symlink_to(d / "outside" / "lnk.py")
            ref = "lnk:f"
        elif kind == "package":
            evil_module(d, d / "outside" / "lpkg" / "__init__.py")
            (d / "work" / "lpkg").symlink_to(d / "outside" / "lpkg")
            ref = "lpkg:f"
        elif kind == "submodule":  # a real package whose submodule is a symlink out
            write(d / "work" / "rpkg" / "__init__.py", "")
            evil_module(d, d / "outside" / "sub.py")
            (d / "work" / "rpkg" / "sub.py").symlink_to(d / "outside" / "sub.py")
            ref = "rpkg.sub:f"
        elif kind == "init":  # a package whose __init__.py is a symlink out
            (d / "work" / "ipkg").mkdir()
            evil_module(d, d / "outside" / "init.py")
            (d / "work" / "ipkg" / "__init__.py").symlink_to(d / "outside" / "init.py")
            ref = "ipkg:f"
        elif kind == "no-init":  # a namespace package (no __init__.py) beside the spec
            evil_module(d, d / "work" / "nspkg" / "mod.py")
            ref = "nspkg.mod:f"
        return {"cmd": [PGCLI, "estimate", spec(d, EST + f"f: {ref}\n")], "expect": "bad"}

    return build


for _kind in ["file", "package", "submodule", "init", "no-init"]:
    case("1-code", f"symlinked module ({_kind}) pointing outside", symlinked(_kind))


def dunder(ref):
    def build(d):
        evil_module(d, d / "work" / "hmod.py", tag="run", body="def f(x):\n    return x\n")
        return {"cmd": [PGCLI, "estimate", spec(d, EST + f"f: '{ref}'\n")], "expect": "bad"}

    return build


for _ref in ["hmod:__class__", "hmod:__init__", "hmod:__builtins__", "hmod:__loader__", "hmod.__init__:f",
             "hmod:__dict__", "__init__:f", "hmod:f.__globals__", "hmod :f", "hmod:f;os", "../hmod:f"]:  # fmt: skip
    case("1-code", f"dunder/odd reference {_ref}", dunder(_ref))


def print_spec_trusted(d):
    """--print-spec of a spec naming a trusted module of its own: prints the spec, imports nothing."""
    evil_module(d, d / "work" / "hmod.py")
    return {"cmd": [PGCLI, "estimate", spec(d, EST + "f: hmod:f\n"), "--print-spec"], "expect": "ok_noexec"}


case("1-code", "--print-spec of a trusted module imports nothing", print_spec_trusted)


def print_spec_train_env(d):
    evil_module(d, d / "work" / "henv.py", body="class E:\n    pass\n")
    return {"cmd": [PGCLI, "train", spec(d, TRAIN.replace("CartPole-v1", "henv:E")), "--print-spec"],
            "expect": "ok_noexec"}  # fmt: skip


case("1-code", "--print-spec of a train spec with env.id: own module imports nothing", print_spec_train_env)


def fisher_policy_config(ref):
    """A train run, then its config.yaml edited to name `ref` (with evilenv.py beside): fisher --policy."""

    def build(d):
        def plant(d):
            rundir = next(p for p in (d / "work" / "results" / "t").iterdir() if (p / "policy.npz").exists())
            evil_module(d, rundir / "evilenv.py", body="class E:\n    pass\n")
            cfg = (rundir / "config.yaml").read_text().replace("CartPole-v1", ref)
            (rundir / "config.yaml").write_text(cfg)
            (d / "work" / "rundir").symlink_to(rundir)

        return {
            "pre": [[PGCLI, "train", spec(d, TRAIN + "name: t\n"), "-q"]],
            "plant": plant,
            "cmd": [PGCLI, "fisher", "--policy", "rundir", "--states", "10", "--n", "10"],
            "expect": "bad",
        }

    return build


for _ref in ["evilenv:E", "pickle:loads", "os:system"]:
    case("1-code", f"fisher --policy on a run whose config.yaml names {_ref}", fisher_policy_config(_ref))


def api_code(expr, setup="", expect="api"):
    """Run `expr` in the venv's Python; it must raise PgcliError (printed as one PGCLI_ERROR line);
    expect="api_or_ok": or succeed (valid input by design); "api_or_typeerror": or raise Python's
    own TypeError for a keyword the function does not take."""

    def build(d):
        env = evil_on_path(d)
        program = textwrap.dedent(
            f"""
            import sys
            import numpy as np
            import pgcli
            {setup}
            try:
                result = {expr}
            except pgcli.PgcliError as e:
                print("PGCLI_ERROR", str(e).replace(chr(10), " | "))
                sys.exit(0)
            except BaseException as e:
                print("OTHER", type(e).__name__, str(e)[:200].replace(chr(10), " | "))
                sys.exit(4)
            print("SUCCESS", type(result).__name__, str(result)[:200].replace(chr(10), " | "))
            """
        )
        write(d / "work" / "api_case.py", program)
        return {
            "cmd": [PY, "api_case.py"],
            "expect": expect,
            "env": env,
            "may_write": ["work/api_case.py", "work/ps.yaml"],
        }

    return build


G = "'gaussian', {'mu': 0.0}"
for _ref in ["pickle:loads", "_pickle:loads", "this:x", "venv.__main__:x", "os:system", "evilpkg:f", "__main__:f"]:
    case("1-code", f"API gradient('{_ref}')", api_code(f"pgcli.gradient('{_ref}', {G}, n=4, rng=0)"))
case("1-code", "API estimate('this:x')", api_code(f"pgcli.estimate('this:x', {G}, n=[10], reps=2)"))
case("1-code", "API optimize('venv.__main__:x')", api_code(f"pgcli.optimize('venv.__main__:x', {G}, steps=2, n=4)"))
case(
    "1-code",
    "API run('estimate', f='pickle:loads')",
    api_code("pgcli.run('estimate', dist='gaussian', f='pickle:loads')"),
)
case("1-code", "API sequence(reward='pickle:loads')", api_code("pgcli.sequence(reward='pickle:loads')"))
case("1-code", "API finetune(reward='os:system')", api_code("pgcli.finetune(reward='os:system', estimator='rloo')"))
case("1-code", "API train env.id os:system", api_code("pgcli.train('cartpole', overrides={'env.id': 'os:system'})"))
case("1-code", "API run(spec file naming pickle:loads)", api_code(
    "pgcli.run('estimate', 'ps.yaml')",
    "open('ps.yaml', 'w').write('kind: estimate\\ndist: gaussian\\nf: pickle:loads\\n')",
))  # fmt: skip
case("1-code", "API gradient(evilpkg:f) via a sys.path entry", api_code(
    f"pgcli.gradient('evilpkg:f', {G}, n=4, rng=0)", "import sys, os; sys.path.insert(0, os.environ['PYTHONPATH'])"
))  # fmt: skip


# ---------------------------------------------------------------- (2) user code is contained

HMOD = """\
import os, sys, time, signal
def f(x):
    if x.shape[0] > 4:  # misbehave at run time only (the check before the run calls f on 4 samples)
{body}
    return x
"""


def user_runtime(body, expect="user", kind="estimate", extra="", names=None, check=None):
    def build(d):
        write(d / "work" / "hmod.py", HMOD.format(body=textwrap.indent(textwrap.dedent(body), " " * 8)))
        base = {"estimate": EST, "optimize": OPT}[kind]
        res = {"cmd": [PGCLI, kind, spec(d, base + "f: hmod:f\nname: u\n" + extra)], "expect": expect}
        res["may_write"] = ["work/results", "work/__pycache__"]
        if names:
            res["names"] = names
        if check:
            res["check"] = check
        return res

    return build


def output_holds_mark(rc, out, err, d):
    files = list((d / "work" / "results").rglob("output.txt"))
    if not any(MARK in p.read_text(errors="replace") for p in files):
        return [f"the user's output is not in the run's output.txt ({len(files)} output.txt files)"]
    return []


for _name, _body in [
    ("sys.exit(0)", "sys.exit(0)"),
    ("sys.exit(3)", "sys.exit(3)"),
    ("sys.exit(None)", "sys.exit()"),
    ("sys.exit('msg')", "sys.exit('HOSTILE exit message')"),
    ("os._exit(0)", "os._exit(0)"),
    ("os._exit(7)", "os._exit(7)"),
    ("raise SystemExit(0)", "raise SystemExit(0)"),
    ("raise GeneratorExit", "raise GeneratorExit"),
    ("raise BaseException", "raise BaseException('boom')"),
    ("raise KeyboardInterrupt", "raise KeyboardInterrupt"),
    ("raise ValueError", "raise ValueError('boom')"),
    ("raise MemoryError", "raise MemoryError"),
    ("infinite recursion", "f.__call__(x)"),
    ("SIGKILL itself", "os.kill(os.getpid(), signal.SIGKILL)"),
    ("SIGTERM itself", "os.kill(os.getpid(), signal.SIGTERM)"),
    ("SIGSEGV itself", "os.kill(os.getpid(), signal.SIGSEGV)"),
    ("return a string", "return 'HOSTILE'"),
    ("return wrong shape at run time", "return x[:2]"),
    ("exception whose str has newlines", "raise ValueError('line one\\nline two\\nHOSTILE three')"),
    ("exception whose str raises", "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise E()"),
]:  # fmt: skip
    case("2-user", f"f does {_name} at run time", user_runtime(_body))
# optimize probes f on n samples, so these misbehave while checked (exit 2) or at run time (exit 1)
case("2-user", "f does sys.exit(0) (optimize)", user_runtime("sys.exit(0)", expect="user_or_bad", kind="optimize"))
case("2-user", "f does os._exit(0) (optimize)", user_runtime("os._exit(0)", expect="user_or_bad", kind="optimize"))
case("2-user", "f does sys.exit(0) at run time with --jobs 2 and a grid", user_runtime(
    "sys.exit(0)", extra="sweep: {seeds: 2}\n"))  # fmt: skip

for _name, _body in [
    ("print to stdout", f"print('{MARK} print')"),
    ("os.write(1, ...)", f"os.write(1, b'{MARK} fd1\\n')"),
    ("os.write(2, ...)", f"os.write(2, b'{MARK} fd2\\n')"),
    ("print to sys.stderr", f"print('{MARK} err', file=sys.stderr)"),
    ("print 5 MB", f"print('{MARK}' * 1_000_000)"),
]:  # fmt: skip
    case("2-user", f"f does {_name} at run time", user_runtime(_body, expect="clean", check=output_holds_mark))
case("2-user", "f closes sys.stdout at run time", user_runtime("sys.stdout.close()", expect="clean"))
case("2-user", "f closes fd 1 at run time", user_runtime("os.close(1)", expect="clean"))
case("2-user", "f dup2s /dev/null over fd 1 and 2", user_runtime(
    "n = os.open(os.devnull, os.O_WRONLY); os.dup2(n, 1); os.dup2(n, 2)", expect="clean"))  # fmt: skip
case("2-user", "f starts a grandchild holding the fds", user_runtime(
    "import subprocess; subprocess.Popen(['sleep', '100'])", expect="clean"))  # fmt: skip

case("2-user", "f sleeps, timeout: 2", user_runtime("time.sleep(100)", expect="hang", extra="timeout: 2\n"))
case("2-user", "f busy-loops, timeout: 2", user_runtime("while True: pass", expect="hang", extra="timeout: 2\n"))
case("2-user", "f ignores SIGTERM and sleeps, timeout: 2", user_runtime(
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100)", expect="hang", extra="timeout: 2\n"))  # fmt: skip
case("2-user", "f blocks SIGTERM/SIGINT and sleeps, timeout: 2", user_runtime(
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT}); time.sleep(100)",
    expect="hang", extra="timeout: 2\n"))  # fmt: skip


def user_hang_cli_timeout(d):
    res = user_runtime("time.sleep(100)", expect="hang")(d)
    res["cmd"] += ["--set", "timeout=2"]
    return res


case("2-user", "f sleeps, --set timeout=2", user_hang_cli_timeout)
case("2-user", "f sleeps in optimize, timeout: 2", user_runtime(
    "time.sleep(100)", expect="refuse_or_fail", kind="optimize", extra="timeout: 2\n"))  # fmt: skip


IMPORT_ERRORS = {"syntax error", "raise at import", "import of a missing module", "sys.exit(0) at import",
                 "os._exit(0) at import", "raise BaseException at import", "raise KeyboardInterrupt at import",
                 "null bytes in source"}  # fmt: skip


def user_module(source, expect="bad", extra="", ref="hmod:f", check=False):
    """A module that misbehaves at import or at the check before the run; check: its one line must name it."""

    def build(d):
        write(d / "work" / "hmod.py", source)
        res = {"cmd": [PGCLI, "estimate", spec(d, EST + f"f: {ref}\nname: u\n" + extra)], "expect": expect}
        res["names"] = ["hmod"]
        res["may_write"] = ["work/results", "work/__pycache__"]
        if check:
            res["check"] = bad_naming_module
        return res

    return build


def bad_naming_module(rc, out, err, d):
    return [] if "hmod" in err else [f"the one line does not name the module: {message_lines(err)!r}"]


for _name, _src in [
    ("syntax error", "def f(x):\n    return x +\n"),
    ("raise at import", "raise RuntimeError('boom at import')\ndef f(x):\n    return x\n"),
    ("import of a missing module", "import no_such_module_xyz\ndef f(x):\n    return x\n"),
    ("sys.exit(0) at import", "import sys\nsys.exit(0)\ndef f(x):\n    return x\n"),
    ("os._exit(0) at import", "import os\nos._exit(0)\ndef f(x):\n    return x\n"),
    ("raise BaseException at import", "raise BaseException('boom')\ndef f(x):\n    return x\n"),
    ("raise KeyboardInterrupt at import", "raise KeyboardInterrupt\ndef f(x):\n    return x\n"),
    ("null bytes in source", "def f(x):\n    return x\n\0\0\n"),
    ("non-UTF-8 source", "s = '\udcff'\n"),
    ("async def f", "async def f(x):\n    return x\n"),
    ("generator f", "def f(x):\n    yield x\n"),
    ("f is not callable", "f = 3\n"),
    ("f is a class", "class f:\n    def __init__(self, x):\n        pass\n"),
    ("f returns a string at the check", "def f(x):\n    return 'HOSTILE'\n"),
    ("f returns a 2-d array at the check", "def f(x):\n    return x.reshape(-1, 1) * [1, 2]\n"),
    ("f returns an object array", "import numpy as np\ndef f(x):\n    return np.array([object()] * len(x))\n"),
    ("f returns complex", "def f(x):\n    return x + 1j\n"),
    ("f sys.exit(0) at the check", "import sys\ndef f(x):\n    sys.exit(0)\n"),
    ("f os._exit(0) at the check", "import os\ndef f(x):\n    os._exit(0)\n"),
    ("f raise GeneratorExit at the check", "def f(x):\n    raise GeneratorExit\n"),
    ("f raise BaseException at the check", "def f(x):\n    raise BaseException('boom')\n"),
    ("f prints at the check", f"def f(x):\n    print('{MARK} at check')\n    return 'HOSTILE'\n"),
]:  # fmt: skip
    if _name == "non-UTF-8 source":

        def _build(d, _n=_name):
            (d / "work" / "hmod.py").write_bytes(b"s = '\xff\xfe'\ndef f(x):\n    return x\n")
            return {
                "cmd": [PGCLI, "estimate", spec(d, EST + "f: hmod:f\n")],
                "expect": "bad",
                "check": bad_naming_module,
            }

        case("2-user", f"module with {_name}", _build)
        continue
    case("2-user", f"module with {_name}", user_module(_src, check=_name in IMPORT_ERRORS))

for _name, _src in [
    ("print at import", f"print('{MARK} at import')\ndef f(x):\n    return x\n"),
    ("os.write(1) at import", f"import os\nos.write(1, b'{MARK} at import\\n')\ndef f(x):\n    return x\n"),
    ("closes stdout at import", "import sys\nsys.stdout.close()\ndef f(x):\n    return x\n"),
]:  # fmt: skip
    case("2-user", f"module with {_name}", user_module(_src, expect="clean"))
case("2-user", "module sleeping at import, timeout: 2", user_module(
    "import time\ntime.sleep(100)\ndef f(x):\n    return x\n", expect="refuse_or_fail", extra="timeout: 2\n"))  # fmt: skip
case("2-user", "f sleeping at the check, timeout: 2", user_module(
    "import time\ndef f(x):\n    time.sleep(100)\n", expect="refuse_or_fail", extra="timeout: 2\n"))  # fmt: skip


def user_env(body, expect="user"):
    def build(d):
        write(d / "work" / "henv.py", textwrap.dedent(f"""\
            import os, sys, time
            import gymnasium as gym
            class E(gym.Env):
                def __init__(self):
                    self.observation_space = gym.spaces.Box(-1, 1, (2,))
                    self.action_space = gym.spaces.Discrete(2)
                    self.t = 0
                def reset(self, *, seed=None, options=None):
                    super().reset(seed=seed)
                    self.t = 0
                    return self.observation_space.sample() * 0, {{}}
                def step(self, a):
                    self.t += 1
                    if self.t > 3:
            {textwrap.indent(body, " " * 12)}
                    return self.observation_space.sample() * 0, 1.0, self.t > 5, False, {{}}
        """))  # fmt: skip
        res = {"cmd": [PGCLI, "train", spec(d, TRAIN.replace("CartPole-v1", "henv:E"))], "expect": expect}
        res["names"] = ["henv", "error.txt", "output.txt"]
        return res

    return build


case("2-user", "env.step sys.exit(0)", user_env("sys.exit(0)"))
case("2-user", "env.step os._exit(0)", user_env("os._exit(0)"))
case("2-user", "env.step raise GeneratorExit", user_env("raise GeneratorExit"))
case("2-user", "env.step prints", user_env(f"print('{MARK} env')", expect="clean"))


def user_reward(body, kind="sequence", expect="user"):
    def build(d):
        write(
            d / "work" / "hrew.py",
            f"import os, sys\nimport numpy as np\ndef r(prompts, tokens, lengths):\n"
            f"    if len(prompts) > 4:\n{textwrap.indent(body, ' ' * 8)}\n    return np.zeros(len(prompts))\n",
        )
        base = SEQ if kind == "sequence" else FT
        res = {"cmd": [PGCLI, kind, spec(d, base + "reward: {name: 'hrew:r'}\n")], "expect": expect}
        res["names"] = ["hrew", "error.txt", "output.txt"]
        return res

    return build  # fmt: skip


case("2-user", "sequence reward sys.exit(0)", user_reward("sys.exit(0)", expect="user_or_bad"))
case("2-user", "sequence reward os._exit(0)", user_reward("os._exit(0)", expect="user_or_bad"))
case("2-user", "finetune reward sys.exit(0)", user_reward("sys.exit(0)", kind="finetune", expect="user_or_bad"))
case("2-user", "finetune reward prints", user_reward(f"print('{MARK} reward')", kind="finetune", expect="clean"))


# ---------------------------------------------------------------- (3) the Python API validates like the CLI

for _name, _expr in [
    ("gradient n=1e12", f"pgcli.gradient('step', {G}, n=1e12, rng=0)"),
    ("gradient n=2e70", f"pgcli.gradient('step', {G}, n=2e70, rng=0)"),
    ("gradient n=0", f"pgcli.gradient('step', {G}, n=0, rng=0)"),
    ("gradient n=-3", f"pgcli.gradient('step', {G}, n=-3, rng=0)"),
    ("gradient n=2.5", f"pgcli.gradient('step', {G}, n=2.5, rng=0)"),
    ("gradient n=nan", f"pgcli.gradient('step', {G}, n=float('nan'), rng=0)"),
    ("gradient n='10' (the CLI's text form: same as 10)", f"pgcli.gradient('step', {G}, n='10', rng=0).equals("
     f"pgcli.gradient('step', {G}, n=10, rng=0))"),
    ("gradient n=True", f"pgcli.gradient('step', {G}, n=True, rng=0)"),
    ("gradient dim=1e6", "pgcli.gradient('step', 'diag_gaussian', {'mu': 0.0}, n=4, rng=0, dim=1e6)"),
    ("gradient dim='3' (the CLI's text form: same as 3)", "pgcli.gradient('step', 'diag_gaussian', {'mu': 0.0}, n=4,"
     " rng=0, dim='3').equals(pgcli.gradient('step', 'diag_gaussian', {'mu': 0.0}, n=4, rng=0, dim=3))"),
    ("gradient dim=-1", "pgcli.gradient('step', 'diag_gaussian', {'mu': 0.0}, n=4, rng=0, dim=-1)"),
    ("gradient θ a vector of 10^6", "pgcli.gradient('step', 'diag_gaussian', {'mu': np.zeros(10**6)}, n=4, rng=0)"),
    ("gradient theta='mu=0'", "pgcli.gradient('step', 'gaussian', 'mu=0', n=4, rng=0)"),
    ("gradient theta=object()", "pgcli.gradient('step', 'gaussian', object(), n=4, rng=0)"),
    ("gradient theta a sweep", "pgcli.gradient('step', 'gaussian', {'mu': '0:1:3'}, n=4, rng=0)"),
    ("gradient theta mu=nan", "pgcli.gradient('step', 'gaussian', {'mu': float('nan')}, n=4, rng=0)"),
    ("gradient theta sigma=-1", "pgcli.gradient('step', 'gaussian', {'mu': 0.0, 'sigma': -1.0}, n=4, rng=0)"),
    ("gradient theta unknown name", "pgcli.gradient('step', 'gaussian', {'bogus': 1.0}, n=4, rng=0)"),
    ("gradient theta 2-d array", "pgcli.gradient('step', 'diag_gaussian', {'mu': np.zeros((2, 2))}, n=4, rng=0)"),
    ("gradient theta object array", "pgcli.gradient('step', 'diag_gaussian', {'mu': np.array([object()])}, n=4, rng=0)"),
    ("gradient rng='0'", f"pgcli.gradient('step', {G}, n=4, rng='0')"),
    ("gradient rng=-1", f"pgcli.gradient('step', {G}, n=4, rng=-1)"),
    ("gradient rng=1.5", f"pgcli.gradient('step', {G}, n=4, rng=1.5)"),
    ("gradient rng=2**70", f"pgcli.gradient('step', {G}, n=4, rng=2**70)"),
    ("gradient rng=object()", f"pgcli.gradient('step', {G}, n=4, rng=object())"),
    ("gradient h=0", f"pgcli.gradient('step', {G}, n=4, rng=0, estimator='finite_difference', h=0)"),
    ("gradient h=-1", f"pgcli.gradient('step', {G}, n=4, rng=0, estimator='finite_difference', h=-1)"),
    ("gradient h=nan", f"pgcli.gradient('step', {G}, n=4, rng=0, estimator='finite_difference', h=float('nan'))"),
    ("gradient temperature=0", "pgcli.gradient('square', 'categorical', None, n=4, rng=0, dim=3, "
     "estimator='gumbel_softmax', temperature=0)"),
    ("gradient temperature=-1", "pgcli.gradient('square', 'categorical', None, n=4, rng=0, dim=3, "
     "estimator='gumbel_softmax', temperature=-1)"),
    ("gradient estimator='bogus'", f"pgcli.gradient('step', {G}, n=4, rng=0, estimator='bogus')"),
    ("gradient dist='bogus'", "pgcli.gradient('step', 'bogus', {'mu': 0.0}, n=4, rng=0)"),
    ("gradient f a 10k-char expression", f"pgcli.gradient('x+' * 5000 + 'x', {G}, n=4, rng=0)"),
    ("gradient f '9**9**9'", f"pgcli.gradient('9**9**9 + x', {G}, n=4, rng=0)"),
    ("gradient f '__import__(\"os\")'", f"pgcli.gradient('__import__(\"os\").system(\"true\")', {G}, n=4, rng=0)"),
    ("gradient f_grad=3", f"pgcli.gradient(lambda x: x, {G}, n=4, rng=0, f_grad=3)"),
    ("estimate n=[1e12]", f"pgcli.estimate('step', {G}, n=[1e12])"),
    ("estimate reps=1e9", f"pgcli.estimate('step', {G}, n=[10], reps=1e9)"),
    ("estimate seed='x'", f"pgcli.estimate('step', {G}, n=[10], reps=2, seed='x')"),
    ("optimize steps=1e12", f"pgcli.optimize('square', {G}, steps=1e12, n=4)"),
    ("optimize lr=nan", f"pgcli.optimize('square', {G}, steps=2, n=4, lr=float('nan'))"),
    ("optimize lr=inf", f"pgcli.optimize('square', {G}, steps=2, n=4, lr=float('inf'))"),
    ("train([...])", "pgcli.train(['cartpole'])"),
    ("train(3)", "pgcli.train(3)"),
    ("train hidden 10^6", "pgcli.train('cartpole', overrides={'policy.hidden': [1000000]})"),
    ("train hidden 50000", "pgcli.train('cartpole', overrides={'policy.hidden': [50000]})"),
    ("train epochs 1e9", "pgcli.train('cartpole', overrides={'algo.objective': 'ppo_clip', 'algo.epochs': 1e9})"),
    ("train overrides a list", "pgcli.train('cartpole', overrides=['optim.lr=0.1'])"),
    ("train unknown override", "pgcli.train('cartpole', overrides={'optim.bogus': 1})"),
    ("train spec a dict", "pgcli.train({'env': {'id': 'CartPole-v1'}, 'stop': {'iterations': 1e12}})"),
    ("train spec /dev/zero", "pgcli.train('/dev/zero')"),
    ("load(3)", "pgcli.load(3)"),
    ("load(None)", "pgcli.load(None)"),
    ("load a missing dir", "pgcli.load('no/such/dir')"),
    ("load /dev/zero", "pgcli.load('/dev/zero')"),
    ("load an empty dir", "pgcli.load('.')"),
    ("run('bogus')", "pgcli.run('bogus')"),
    ("run(3)", "pgcli.run(3)"),
    ("run overrides of a bad key", "pgcli.run('estimate', overrides={'n': 1e15}, dist='gaussian', f='step')"),
    ("fisher n=1e15", "pgcli.fisher(dist='gaussian', n=1e15)"),
    ("sequence vocab 1e6", "pgcli.sequence(task={'vocab': 1000000, 'max_len': 10})"),
    ("finetune steps 1e12", "pgcli.finetune(steps=1e12, estimator='rloo')"),
]:  # fmt: skip
    case("3-api", _name, api_code(_expr))
# valid by design: f=3 is the constant expression `--f 3`, f=None the default f, one estimator's name
# for the list; a keyword the function does not take is Python's own TypeError
for _name, _expr in [
    ("gradient f=3", f"pgcli.gradient(3, {G}, n=4, rng=0)"),
    ("gradient f=None", f"pgcli.gradient(None, {G}, n=4, rng=0)"),
    ("estimate estimators='score'", f"pgcli.estimate('step', {G}, n=[10], reps=2, estimators='score')"),
]:  # fmt: skip
    case("3-api", _name, api_code(_expr, expect="api_or_ok"))
case("3-api", "gradient unknown keyword", api_code(f"pgcli.gradient('step', {G}, n=4, rng=0, bogus=1)",
                                                  expect="api_or_typeerror"))  # fmt: skip


def api_load_fifo(d):
    res = api_code("pgcli.load('fifo')")(d)
    os.mkfifo(d / "work" / "fifo")
    return res


def api_load_fifo_table(d):
    res = api_code("pgcli.load('r')")(d)
    (d / "work" / "r").mkdir()
    os.mkfifo(d / "work" / "r" / "estimate.csv")
    os.mkfifo(d / "work" / "r" / "runs.csv")
    return res


case("3-api", "load(FIFO)", api_load_fifo)
case("3-api", "load(a dir whose tables are FIFOs)", api_load_fifo_table)


# ---------------------------------------------------------------- (4) every number and amount of work is bounded


def cli(*args, base=None, kind=None, expect="bad"):
    def build(d):
        cmd = [PGCLI, kind or args[0]]
        rest = list(args[1:]) if kind is None else list(args)
        if base is not None:
            cmd.append(spec(d, base))
        return {"cmd": cmd + rest, "expect": expect}

    return build


TRAIN_SETS = [
    "algo.epochs=1e9", "algo.value.steps=1e9", "eval.episodes=1e9", "eval.every=1e12", "batch.episodes=1e15",
    "batch.steps=1e15", "batch.min_steps=1e15", "policy.hidden=[50000]", "policy.hidden=[64,64,64,64,64,64,64,64,64]",
    "policy.hidden=[0]", "policy.hidden=[-4]", "policy.hidden=[2.5]", "algo.value.hidden=[50000]", "stop.iterations=1e12",
    "stop.iterations=0.5", "stop.env_steps=1e30", "env.num_envs=1000000", "env.num_envs=0", "env.max_episode_steps=1e12",
    "stop.target_window=1e9", "algo.clip=1.5", "algo.clip=1e300", "algo.clip=-0.1", "algo.clip=nan", "algo.discount=1.5",
    "algo.discount=nan", "algo.gae_lambda=2", "optim.lr=inf", "optim.lr=nan", "optim.lr=1e400", "optim.lr=-1",
    "optim.cg_iters=1e9", "optim.backtracks=1e9", "algo.minibatches=1e9", "algo.entropy_coef=inf", "seed=-1",
    "seed=1e30", "seed=2.5", "sweep.seeds=1e9", "sweep.seeds=[1,1]", "timeout=-1", "timeout=1e30", "timeout=nan",
    "timeout=0", "policy.init_log_std=1e300", "env.kwargs={a: 1}", "algo.target_kl=-1",
]  # fmt: skip
for _s in TRAIN_SETS:
    case("4-bounds", f"train --set {_s}", cli("train", "--set", _s, "--set", "algo.objective=ppo_clip", base=TRAIN))

EST_ARGS = [
    ["--n", "1e12"], ["--n", "1e400"], ["--n", "nan"], ["--n", "inf"], ["--n", "0"], ["--n", "-5"], ["--n", "1.5"],
    ["--n", ",".join(str(10 + i) for i in range(101))], ["--n", ",".join(["10"] * 20000)], ["--reps", "1e9"],
    ["--reps", "1e400"], ["--target-se", "1e-300"], ["--target-se", "0"], ["--target-se", "nan"],
    ["--target-se", "-1"], ["--target-se", "1e-320"], ["--dim", "1000000"], ["--dim", "0"], ["--dim", "1e3"],
    ["--theta", "mu=0:1:2.5"], ["--theta", "mu=0:1:1e9"], ["--theta", "mu=0:1:-3"], ["--theta", "mu=0:1:nan"],
    ["--theta", "mu=0:1:200,sigma=1:2:200"], ["--theta", "mu=0,mu=1"], ["--theta", "mu=nan"], ["--theta", "mu=inf"],
    ["--theta", "mu=1e400"], ["--theta", "sigma=0"], ["--theta", "sigma=-1"], ["--theta", "mu=[" + ",".join(["0"] * 5000) + "]"],
    ["--h", "0"], ["--h", "nan"], ["--h", "-1"], ["--h", "1e400"], ["--seed", "-1"], ["--seed", str(2**64)],
    ["--f", "x+" * 400 + "x"], ["--f", "(" * 1000 + "x" + ")" * 1000], ["--f", "9**9**9*x"], ["--f", "x**10**10"],
    ["--f", "__import__('os').system('touch MARKER-expr')"], ["--f", "x.__class__"], ["--f", "().__class__"],
    ["--f", "table:" + ",".join(["1"] * 60000)], ["--f", "step:nan"], ["--f", "step:1e400"], ["--f", "cos:myfn"],
    ["--f", ""], ["--f", "lambda x: x"], ["--estimators", "score," * 1000 + "score"], ["--estimators", ""],
    ["--set", "reps=1e9"], ["--set", "n=[1e12]"], ["--set", "bogus=1"], ["--set", "n"], ["--set", "=3"],
    ["--set-grid", "seed=" + ",".join(str(i) for i in range(15000))], ["--set-grid", "n="],
    ["--set", "sweep.grid={n: [10, 10]}"], ["--set", "sweep.seeds=100000"],
]  # fmt: skip
ONE_ESTIMATOR = ["--estimators", "score," * 1000 + "score"]  # one estimator named 1001 times: it runs once
for _a in EST_ARGS:
    _label = " ".join(a if len(a) < 60 else a[:40] + f"…({len(a)} chars)" for a in _a)
    case("4-bounds", f"estimate {_label}", cli("estimate", "--dist", "gaussian", "--f", "step", "--reps", "2", *_a,
                                               expect="refuse_or_ok" if _a == ONE_ESTIMATOR else "bad"))  # fmt: skip
case("4-bounds", "estimate poisson rate 1e9", cli(
    "estimate", "--dist", "poisson", "--theta", "rate=1e9", "--f", "step", "--n", "10"))  # fmt: skip
case("4-bounds", "fisher --n 1e15", cli("fisher", "--dist", "gaussian", "--n", "1e15"))
case("4-bounds", "fisher --dim 1e6", cli("fisher", "--dist", "diag_gaussian", "--dim", "1000000", "--n", "10"))
case("4-bounds", "fisher --states 1e9 (click range)", cli("fisher", "--policy", "x", "--states", "1000000000"))
case("4-bounds", "estimate --jobs 0 (click range)", cli("estimate", "--jobs", "0"))
case(
    "4-bounds",
    "estimate --jobs 1e6",
    cli("estimate", "--dist", "gaussian", "--f", "step", "--jobs", "1000000", expect="refuse_or_ok"),
)  # one run: one process whatever --jobs says
case("4-bounds", "unknown option", cli("estimate", "--bogus"))
case("4-bounds", "unknown command", cli("bogus"))

for _s in ["steps=1e12", "n=1e12", "n=0", "objective_samples=1e12", "optim.lr=nan", "optim.lr=inf"]:
    case("4-bounds", f"optimize --set {_s}", cli("optimize", "--set", _s, base=OPT + "f: square\n"))
for _s in ["data.batch=1e15", "data.test_fraction=1.5", "data.test_fraction=0", "data.l2=-1", "data.l2=nan"]:
    case("4-bounds", f"optimize classifier --set {_s}", cli(
        "optimize", "--set", _s, base="kind: optimize\nproblem: classifier\nn: 4\nsteps: 3\n"))  # fmt: skip
for _s in ["task.vocab=1000000", "task.max_len=1000", "group_size=1e9", "reps=1e12", "n_groups=1e12",
           "policy.hidden=10000000", "policy.kind=mlp", "theta.spread=nan", "beta=inf", "task.prompts=0"]:  # fmt: skip
    case("4-bounds", f"sequence --set {_s}", cli("sequence", "--set", _s, "--set", "policy.kind=mlp", base=SEQ,
                                                 expect="refuse_or_ok" if _s == "policy.kind=mlp" else "bad"))  # fmt: skip
for _s in ["steps=1e12", "ppo.epochs=1e9", "ppo.clip=1.5", "ppo.clip=-1", "lr=nan", "exact_every=-1",
           "task.vocab=1000", "target.value=nan", "n_groups=1e9"]:  # fmt: skip
    case("4-bounds", f"finetune --set {_s}", cli("finetune", "--set", _s, base=FT,  # a vocabulary of 1000: 2 steps, fine
                                                 expect="refuse_or_ok" if _s == "task.vocab=1000" else "bad"))  # fmt: skip


def yaml_case(text, kind="estimate", expect="bad"):
    def build(d):
        write(d / "work" / "y.yaml", text)
        return {"cmd": [PGCLI, kind, "y.yaml"], "expect": expect}

    return build


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
for _name, _text in [
    ("billion laughs", "kind: estimate\ndist: gaussian\nf: step\n" + LAUGHS),
    ("billion laughs as n", "kind: estimate\ndist: gaussian\nf: step\nn: &n [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
     + "".join(f"n{i}: &n{i} [{', '.join(['*n' if i == 0 else f'*n{i - 1}'] * 10)}]\n" for i in range(7))),
    ("merge-key bomb", "base: &b {kind: estimate, dist: gaussian}\n" + "".join(
        f"m{i}: &m{i}\n  <<: [{', '.join(['*b'] + [f'*m{j}' for j in range(max(0, i - 5), i)])}]\n  k{i}: 1\n"
        for i in range(60)) + "<<: *m59\nf: step\n"),
    ("recursive alias", "kind: estimate\nf: &a [*a]\n"),
    ("duplicate key", "kind: estimate\ndist: gaussian\ndist: poisson\nf: step\n"),
    ("duplicate nested key", "kind: estimate\ndist: gaussian\nf: step\ntheta: {mu: 0, mu: 1}\n"),
    ("python/object tag", "kind: estimate\ndist: !!python/object/apply:os.system ['touch MARKER-tag']\n"),
    ("python/name tag", "kind: estimate\nf: !!python/name:os.system\n"),
    ("unknown tag", "kind: estimate\nf: !custom step\n"),
    ("binary tag", "kind: estimate\nf: !!binary aGVsbG8=\n"),
    ("set tag", "kind: estimate\nf: !!set {step: null}\n"),
    ("timestamp as n", "kind: estimate\ndist: gaussian\nf: step\nn: 2001-12-14\n"),
    ("int with 5000 digits", "kind: estimate\ndist: gaussian\nf: step\nn: " + "9" * 5000 + "\n"),
    ("int with 100000 digits", "kind: estimate\ndist: gaussian\nf: step\nseed: " + "9" * 100000 + "\n"),
    ("hex int 2**70", "kind: estimate\ndist: gaussian\nf: step\nseed: 0x400000000000000000\n"),
    ("float 1e400", "kind: estimate\ndist: gaussian\nf: step\nreps: 1e400\n"),
    ("float .inf", "kind: estimate\ndist: gaussian\nf: step\nh: .inf\n"),
    ("float .nan theta", "kind: estimate\ndist: gaussian\nf: step\ntheta: {mu: .nan}\n"),
    ("nesting 10000 deep", "kind: estimate\nf: " + "[" * 10000 + "]" * 10000 + "\n"),
    ("nesting 10000 deep flow maps", "kind: estimate\nf: " + "{a: " * 10000 + "1" + "}" * 10000 + "\n"),
    ("a list document", "- kind: estimate\n"),
    ("a scalar document", "estimate\n"),
    ("two documents", "kind: estimate\n---\nkind: train\n"),
    ("null key", "kind: estimate\n~: 3\n"),
    ("non-string key", "kind: estimate\n3: 3\n"),
    ("complex key", "kind: estimate\n? [a, b]\n: 3\n"),
    ("tab indentation", "kind: estimate\ntheta:\n\tmu: 0\n"),
    ("kind bogus", "kind: bogus\n"),
    ("kind a list", "kind: [estimate]\n"),
    ("kind train on estimate command", "kind: train\n"),
    ("BOM and NUL", "\ufeffkind: estimate\nf: \"st\\0ep\"\n"),
    ("lone surrogate escape", "kind: estimate\nf: \"\\ud800\"\n"),
]:  # fmt: skip
    case("4-bounds", f"yaml: {_name}", yaml_case(_text))
for _name, _text in [("empty document", ""), ("only a comment", "# nothing\n")]:  # no keys: every default
    case("4-bounds", f"yaml: {_name}", yaml_case(_text, expect="refuse_or_ok"))


def yaml_file(kind):
    def build(d):
        w = d / "work"
        if kind == "2 MB spec":
            (w / "y.yaml").write_text("kind: estimate\n" + "# pad\n" * 350_000)
        elif kind == "binary garbage":
            (w / "y.yaml").write_bytes(bytes(range(256)) * 64)
        elif kind == "a directory":
            (w / "y.yaml").mkdir()
        elif kind == "a FIFO":
            os.mkfifo(w / "y.yaml")
        elif kind == "/dev/zero":
            (w / "y.yaml").symlink_to("/dev/zero")
        elif kind == "/dev/urandom":
            (w / "y.yaml").symlink_to("/dev/urandom")
        elif kind == "2 GB sparse":
            with open(w / "y.yaml", "wb") as fh:
                fh.truncate(2 << 30)
        elif kind == "unreadable":
            write(w / "y.yaml", "kind: estimate\n").chmod(0)
        elif kind == "symlink loop":
            (w / "y.yaml").symlink_to("y.yaml")
        elif kind == "latin-1 text":
            (w / "y.yaml").write_bytes(b"kind: estimate\nname: caf\xe9\n")
        return {"cmd": [PGCLI, "estimate", "y.yaml"], "expect": "bad"}

    return build


for _k in [
    "2 MB spec",
    "binary garbage",
    "a directory",
    "a FIFO",
    "/dev/zero",
    "/dev/urandom",
    "2 GB sparse",
    *(["unreadable"] if os.geteuid() != 0 else []),
    "symlink loop",
    "latin-1 text",
]:  # root reads mode 000: fmt: skip
    case("4-bounds", f"spec file is {_k}", yaml_file(_k))


# ---------------------------------------------------------------- (5) every path pgcli writes or reads is its own

EST_RUN = EST + "f: step\nname: est\n"


def planted(what):
    """A small sweep, then `what` planted in its results tree, then the same command again (--force)."""

    def build(d):
        w = d / "work"
        victim = write(d / "outside" / "victim.txt", "precious\n")

        def plant(d):
            exp = w / "results" / "est"
            rundir = next(p for p in exp.iterdir() if (p / "config.yaml").exists())

            def swap(path, target):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
                path.symlink_to(target)

            if what == "run dir -> outside copy":
                shutil.copytree(rundir, d / "outside" / "rundir")
                swap(rundir, d / "outside" / "rundir")
            elif what == "run dir -> outside (dangling)":
                swap(rundir, d / "outside" / "newrundir")
            elif what in ("config.yaml", "status", "estimate.csv (run's table)", ".lock"):
                swap(rundir / what.split(" ")[0], victim)
            elif what == ".lock dangling":
                swap(rundir / ".lock", d / "outside" / "newlock")
            elif what in ("runs.csv", "estimate.csv (combined)", "experiment.yaml"):
                swap(exp / what.split(" ")[0], victim)
            elif what == "runs.csv dangling":
                swap(exp / "runs.csv", d / "outside" / "newruns.csv")
            elif what == "combined table dangling":
                swap(exp / "estimate.csv", d / "outside" / "new.csv")
            elif what == "experiment dir -> outside":
                shutil.copytree(exp, d / "outside" / "exp", symlinks=True)
                swap(exp, d / "outside" / "exp")
            elif what == "status FIFO":
                (rundir / "status").unlink()
                os.mkfifo(rundir / "status")
            elif what == "status -> /dev/zero":
                swap(rundir / "status", "/dev/zero")
            elif what == "status -> /dev/urandom":
                swap(rundir / "status", "/dev/urandom")
            elif what == "status 2 GB sparse":
                with open(rundir / "status", "r+b") as fh:
                    fh.truncate(2 << 30)
            elif what == "config.yaml FIFO":
                (rundir / "config.yaml").unlink()
                os.mkfifo(rundir / "config.yaml")
            elif what == "config.yaml -> /dev/zero":
                swap(rundir / "config.yaml", "/dev/zero")
            elif what == "runs.csv FIFO":
                (exp / "runs.csv").unlink()
                os.mkfifo(exp / "runs.csv")
            elif what == "combined table FIFO":
                (exp / "estimate.csv").unlink()
                os.mkfifo(exp / "estimate.csv")
            elif what == "combined table a directory":
                (exp / "estimate.csv").unlink()
                (exp / "estimate.csv").mkdir()
            elif what == "run table FIFO":
                (rundir / "estimate.csv").unlink()
                os.mkfifo(rundir / "estimate.csv")
            elif what == "run dir a FIFO":
                shutil.rmtree(rundir)
                os.mkfifo(rundir)
            elif what == "run dir a file":
                shutil.rmtree(rundir)
                rundir.write_text("x")
            else:
                raise ValueError(what)

        force = [] if any(k in what for k in ("FIFO", "/dev/", "sparse", "a file")) else ["--force"]
        return {
            "pre": [[PGCLI, "estimate", spec(d, EST_RUN), "-q"]],
            "plant": plant,
            "cmd": [PGCLI, "estimate", "s.yaml", "-q", *force],
            "expect": "refuse_or_fail",
        }

    return build


for _w in ["run dir -> outside copy", "run dir -> outside (dangling)", "config.yaml", "status",
           "estimate.csv (run's table)", ".lock", ".lock dangling", "runs.csv", "runs.csv dangling",
           "estimate.csv (combined)", "combined table dangling", "experiment.yaml", "experiment dir -> outside",
           "status FIFO", "status -> /dev/zero", "status -> /dev/urandom", "status 2 GB sparse", "config.yaml FIFO",
           "config.yaml -> /dev/zero", "runs.csv FIFO", "combined table FIFO", "combined table a directory",
           "run table FIFO", "run dir a FIFO", "run dir a file"]:  # fmt: skip
    case("5-paths", f"planted: {_w}", planted(_w))


def planted_read(cmd_tail, what):
    """plot/report/check/load reading a results tree with something planted in it."""

    def build(d):
        def plant(d):
            exp = d / "work" / "results" / "est"
            for name in what.split("+"):
                p = exp / name
                p.unlink()
                os.mkfifo(p)

        return {
            "pre": [[PGCLI, "estimate", spec(d, EST_RUN), "-q"]],
            "plant": plant,
            "cmd": [PGCLI, *cmd_tail],
            "expect": "refuse_or_fail",
        }

    return build


for _tail in [["plot", "results/est"], ["plot", "results/est", "--table"], ["report", "results/est"],
              ["check", "s.yaml"]]:  # fmt: skip
    for _w in ["estimate.csv", "runs.csv", "estimate.csv+runs.csv"]:
        case("5-paths", f"{' '.join(_tail)} with {_w} a FIFO", planted_read(_tail, _w))


def out_case(target, kind="estimate", expect="refuse_or_ok", setup=None, extra=()):
    def build(d):
        if setup:
            setup(d)
        if kind == "estimate":
            cmd = [PGCLI, "estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "--reps", "2",
                   "--estimators", "score", "-q", "--out", target, *extra]  # fmt: skip
        elif kind == "plot":
            cmd = [PGCLI, "plot", "results/est", "--out", target, *extra]
        elif kind == "table-out":
            cmd = [PGCLI, "plot", "results/est", "--table", "--table-out", target]
        elif kind == "junit":
            cmd = [PGCLI, "check", "s.yaml", "--junit", target]
        elif kind == "report":
            cmd = [PGCLI, "report", "results/est", "--out", target]
        res = {"cmd": cmd, "expect": expect, "may_write": ["work/results", "work/no_such_dir"]}
        if kind != "estimate":
            res["pre"] = [[PGCLI, "estimate", spec(d, EST_RUN + "expect:\n  - {metric: mean, agg: count, '>=': 0}\n"),
                           "-q"]]  # fmt: skip
        return res

    return build


for _kind in ["estimate", "plot", "table-out", "junit", "report"]:
    for _t in ["/dev/stdout", "/dev/stderr", "/proc/self/fd/1", "/dev/null", "/dev/full"]:
        case("5-paths", f"{_kind} output {_t}", out_case(_t, _kind, "refuse_or_fail" if _t == "/dev/full" else
                                                            "refuse_or_ok"))  # fmt: skip
    for _t, _setup in [
        ("a_dir", lambda d: (d / "work" / "a_dir").mkdir()),
        ("fifo", lambda d: os.mkfifo(d / "work" / "fifo")),
        ("x" * 300 + ".csv", None),
        ("no_such_dir/x.csv", "created"),
        ("loop/x.csv", lambda d: (d / "work" / "loop").symlink_to("loop")),
        ("self_loop.csv", lambda d: (d / "work" / "self_loop.csv").symlink_to("self_loop.csv")),
        ("", "created"),
    ]:  # fmt: skip
        _expect = "refuse_or_fail" if _kind != "estimate" or _setup == "created" else "bad"
        _setup = None if _setup == "created" else _setup  # a missing parent directory of a typed output is made
        case("5-paths", f"{_kind} output {(_t[:20] + '…') if len(_t) > 20 else _t or repr(_t)}", out_case(
            _t, _kind, _expect, _setup))  # fmt: skip


def name_case(name, via="spec", expect="refuse_or_ok"):
    def build(d):
        if via == "spec":
            cmd = [PGCLI, "estimate", spec(d, EST + f"f: step\nname: {name}\n"), "-q"]
        else:
            cmd = [PGCLI, "estimate", spec(d, EST + "f: step\n"), "-q", "--name", name]
        return {"cmd": cmd, "expect": expect}

    return build


for _n in ["/abs", "../x", "a/../../x", "..", ".", "a/b", "'x' * 300", '"a\\0b"', '"a\\nb"', "''", "'~'", "'-x'",
           "results", "'$HOME'", "'/dev/null'"]:  # fmt: skip
    _val = ("x" * 300) if _n == "'x' * 300" else _n
    case("5-paths", f"spec name: {_val[:30]}", name_case(_val))
for _n in ["/abs", "../x", "a/../../x", "..", ".", "x" * 300, "a\nb", "", "/dev/null", "/proc/self/fd/1"]:
    case("5-paths", f"--name {_n[:30]!r}", name_case(_n, via="flag"))
for _r, _setup in [
    ("x" * 300, None),
    ("loop", lambda d: (d / "work" / "loop").symlink_to("loop")),
    ("afile", lambda d: write(d / "work" / "afile", "x")),
    ("/dev/null", None),
    ("/proc/self", None),
]:  # fmt: skip

    def _b(d, _r=_r, _setup=_setup):
        if _setup:
            _setup(d)
        return {"cmd": [PGCLI, "estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "--results", _r],
                "expect": "bad"}  # fmt: skip

    case("5-paths", f"--results {_r[:20]}", _b)


# ---------------------------------------------------------------- (6) the cluster edge


def dask_case(address, expect="bad"):
    def build(d):
        addr = address.format(**SERVERS)
        return {"cmd": [PGCLI, "estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "--reps", "2",
                        "--executor", "dask", "--scheduler", addr, "-q"], "expect": expect}  # fmt: skip

    return build


for _a in ["", " ", "localhost", "tcp://", "tcp://host:notaport", "tcp://host:99999", "tcp://host:-1", "http://h:1",
           "file:///etc/passwd", "tcp://[::1", "tcp://h:1/path", "inproc://x", "tcp://h:1 --x",
           "tcp://" + "a" * 5000 + ":1", "tls://:1", "ucx://"]:  # fmt: skip
    case("6-cluster", f"--scheduler {_a[:30]!r}", dask_case(_a))
case("6-cluster", "--scheduler at a silent server", dask_case("tcp://{silent}", "refuse_or_fail"))
case("6-cluster", "--scheduler at an HTTP server", dask_case("tcp://{http}", "refuse_or_fail"))
case("6-cluster", "--scheduler at a huge-frame server", dask_case("tcp://{huge}", "refuse_or_fail"))
case("6-cluster", "--scheduler at a closed port", dask_case("tcp://{closed}", "refuse_or_fail"))
case("6-cluster", "--scheduler at a server closing at once", dask_case("tcp://{closer}", "refuse_or_fail"))
case("6-cluster", "--scheduler without --executor dask", cli(
    "estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "--scheduler", "tcp://127.0.0.1:1", "-q",
    expect="refuse_or_ok"))  # fmt: skip


# ---------------------------------------------------------------- (7) smaller


def plot_case(extra, expect="refuse_or_ok", setup=None, target="results/est"):
    def build(d):
        if setup:
            setup(d)
        return {
            "pre": [[PGCLI, "estimate", spec(d, EST_RUN), "-q"]],
            "cmd": [PGCLI, "plot", target, *extra],
            "expect": expect,
        }

    return build


for _t in ["$" + "\\sqrt{" * 200 + "x" + "}" * 200 + "$", "$" + "x^{" * 200 + "x" + "}" * 200 + "$",
           "$\\frac{" * 100 + "x" + "}{y}" * 100 + "$", "$" + "{" * 5000 + "$", "$\\bogus$", "$", "x" * 100000,
           "$" + "\\int" * 5000 + "$", "$a_{" * 300 + "$"]:  # fmt: skip
    case("7-smaller", f"plot --title {_t[:25]!r}…", plot_case(["--title", _t]))


def fifo(name):
    return lambda d: os.mkfifo(d / "work" / name)


case("7-smaller", "pgcli plot FIFO", plot_case([], "bad", fifo("f.csv"), "f.csv"))
case("7-smaller", "pgcli plot /dev/zero", plot_case([], "bad", None, "/dev/zero"))
case("7-smaller", "pgcli plot /dev/urandom", plot_case([], "bad", None, "/dev/urandom"))
case("7-smaller", "pgcli report FIFO", lambda d: {**plot_case([], "bad", fifo("f.csv"), "f.csv")(d),
                                                  "cmd": [PGCLI, "report", "f.csv"]})  # fmt: skip
case("7-smaller", "pgcli plot a 200,000-column CSV", plot_case([], "bad", lambda d: write(
    d / "work" / "wide.csv", ",".join(f"c{i}" for i in range(200_000)) + "\n" + ",".join("1" * 200_000) + "\n"),
    "wide.csv"))  # fmt: skip
case("7-smaller", "pgcli plot --select on a missing column", plot_case(["--select", "bogus=1"], "bad"))
case("7-smaller", "pgcli plot --smooth 1e9", plot_case(["--smooth", "1000000000"], "refuse_or_ok"))
case("7-smaller", "pgcli plot --x with a 10k-char column", plot_case(["--x", "c" * 10000], "bad"))


def classifier(data_setup, expect="bad"):
    def build(d):
        data_setup(d / "work" / "data.csv")
        text = "kind: optimize\nproblem: classifier\nn: 4\nsteps: 3\ndata: {path: data.csv}\n"
        return {"cmd": [PGCLI, "optimize", spec(d, text)], "expect": expect}

    return build


def wide(p):
    p.write_text(",".join(f"c{i}" for i in range(200_000)) + ",y\n" + ",".join(["1"] * 200_000) + ",0\n")


def sparse(p):
    with open(p, "wb") as fh:
        fh.truncate(2 << 30)


case("7-smaller", "optimize classifier data: 200,000 columns", classifier(wide))
case("7-smaller", "optimize classifier data: 2 GB sparse file", classifier(sparse))
case("7-smaller", "optimize classifier data: FIFO", classifier(lambda p: os.mkfifo(p)))
case("7-smaller", "optimize classifier data: /dev/zero", classifier(lambda p: p.symlink_to("/dev/zero")))
case("7-smaller", "optimize classifier data: a directory", classifier(lambda p: p.mkdir()))
case("7-smaller", "optimize classifier data: NaN features", classifier(
    lambda p: p.write_text("a,y\n" + "nan,1\n1,0\n" * 20)))  # fmt: skip
case(
    "7-smaller", "optimize classifier data: labels 0/2", classifier(lambda p: p.write_text("a,y\n" + "1,2\n0,0\n" * 20))
)
case("7-smaller", "optimize classifier data: one class", classifier(lambda p: p.write_text("a,y\n" + "1,1\n" * 40)))
case(
    "7-smaller",
    "optimize classifier data: text feature",
    classifier(lambda p: p.write_text("a,y\n" + "x,1\ny,0\n" * 20)),
)
case("7-smaller", "optimize classifier data: header only", classifier(lambda p: p.write_text("a,y\n")))
case("7-smaller", "optimize classifier data: absolute /etc/passwd", lambda d: {
    "cmd": [PGCLI, "optimize", spec(d, "kind: optimize\nproblem: classifier\nn: 4\nsteps: 3\ndata: {path: /etc/passwd}\n")],
    "expect": "bad"})  # fmt: skip
case("7-smaller", "optimize classifier data: 1.2M rows", classifier(
    lambda p: p.write_text("a,y\n" + "1,1\n0,0\n" * 600_000)))  # fmt: skip


def fisher_policy(mutate):
    def build(d):
        def plant(d):
            rundir = next(p for p in (d / "work" / "results" / "t").iterdir() if (p / "policy.npz").exists())
            mutate(rundir / "policy.npz")
            (d / "work" / "rundir").symlink_to(rundir)

        return {
            "pre": [[PGCLI, "train", spec(d, TRAIN + "name: t\n"), "-q"]],
            "plant": plant,
            "cmd": [PGCLI, "fisher", "--policy", "rundir", "--states", "10", "--n", "10"],
            "expect": "refuse_or_fail",
        }

    return build


def npz_edit(fn):
    def mutate(path):
        import numpy as np  # the installed pgcli's numpy, only to write the hostile policy file

        with np.load(path) as z:
            data = dict(z)
        data = fn(data)
        path.unlink()
        with open(path, "wb") as fh:
            np.savez(fh, **data)

    return mutate


def _theta_key(data):
    return next(k for k in data if data[k].ndim == 1 and data[k].size > 10)


case(
    "7-smaller",
    "fisher --policy with a too-short θ",
    fisher_policy(npz_edit(lambda z: {**z, _theta_key(z): z[_theta_key(z)][:5]})),
)
case("7-smaller", "fisher --policy with a too-long θ", fisher_policy(npz_edit(
    lambda z: {**z, _theta_key(z): __import__("numpy").concatenate([z[_theta_key(z)]] * 3)})))  # fmt: skip
case(
    "7-smaller",
    "fisher --policy with NaN θ",
    fisher_policy(npz_edit(lambda z: {**z, _theta_key(z): z[_theta_key(z)] * float("nan")})),
)
case(
    "7-smaller",
    "fisher --policy with a 2-d θ",
    fisher_policy(npz_edit(lambda z: {**z, _theta_key(z): z[_theta_key(z)][None]})),
)
case("7-smaller", "fisher --policy with an empty npz", fisher_policy(npz_edit(lambda z: {})))
case("7-smaller", "fisher --policy: policy.npz is text", fisher_policy(lambda p: p.write_text("not a zip")))
case(
    "7-smaller",
    "fisher --policy: policy.npz -> /dev/zero",
    fisher_policy(lambda p: (p.unlink(), p.symlink_to("/dev/zero"))),
)
case("7-smaller", "fisher --policy: policy.npz a FIFO", fisher_policy(lambda p: (p.unlink(), os.mkfifo(p))))
case("7-smaller", "fisher --policy: policy.npz holds a pickled object", fisher_policy(npz_edit(
    lambda z: {**z, _theta_key(z): __import__("numpy").array([object()], dtype=object)})))  # fmt: skip
case("7-smaller", "fisher --policy on a missing dir", cli("fisher", "--policy", "no/such", "--n", "10"))
case("7-smaller", "fisher --policy on /dev/zero", cli("fisher", "--policy", "/dev/zero", "--n", "10"))
case("7-smaller", "pgcli copy onto /dev/stdout", cli("copy", "cartpole", "/dev/stdout", expect="refuse_or_ok"))


def copy_outside(d):  # an output path the user typed, outside the working directory: pgcli writes there, only there
    return {**cli("copy", "cartpole", "../elsewhere/x.yaml", expect="refuse_or_ok")(d), "may_write": ["elsewhere"]}


case("7-smaller", "pgcli copy ../outside", copy_outside)
case("7-smaller", "pgcli copy unknown spec", cli("copy", "bogus", "x.yaml"))
case("7-smaller", "pgcli train with a 10k-char positional", cli("train", "x" * 10000))
case("7-smaller", "pgcli check with no expect block", cli("check", base=EST + "f: step\n", expect="refuse_or_ok"))


# ---------------------------------------------------------------- servers for the cluster cases


def start_servers():
    def serve(handler):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        held = []

        def loop():
            while True:
                c, _ = s.accept()
                held.append(c)
                threading.Thread(target=handler, args=(c,), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return f"127.0.0.1:{s.getsockname()[1]}"

    def silent(c):  # accepts and says nothing, never closes
        pass

    def huge(c):  # a frame header announcing 2^62 bytes, then a trickle of junk
        try:
            c.sendall((1 << 62).to_bytes(8, "little") * 4)
            for _ in range(600):
                c.sendall(b"\xff" * 64)
                time.sleep(0.1)
        except OSError:
            pass

    def closer(c):
        c.close()

    SERVERS["silent"] = serve(silent)
    SERVERS["huge"] = serve(huge)
    SERVERS["closer"] = serve(closer)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    SERVERS["http"] = f"127.0.0.1:{httpd.server_address[1]}"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    SERVERS["closed"] = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--only", default="", help="run only cases whose section or name contains this")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    parser.add_argument("--keep", action="store_true", help="keep the temporary root")
    args = parser.parse_args()
    start_servers()
    root = Path(tempfile.mkdtemp(prefix="pgcli-hostile-"))
    (root / "mpl").mkdir()
    selected = [c for c in CASES if args.only in c[0] + " " + c[1]]
    t0 = time.monotonic()
    broken = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(execute, *c, root, args.verbose) for c in selected]
        for fut in futures:
            section, name, spec_, problems, _secs = fut.result()
            if problems:
                broken.append(section)
                print(
                    f"BROKEN [{section}] {name}: {'; '.join(problems)}\n    reproduce: {reproducer(spec_)}", flush=True
                )
    kept = len(selected) - len(broken)
    per = {}
    for s, _n, _b in selected:
        per.setdefault(s, [0, 0])[0] += 1
    for s in broken:
        per[s][1] += 1
    print("per section: " + ", ".join(f"{s} {n - b}/{n}" for s, (n, b) in sorted(per.items())))
    kept_in = f"; failing cases kept in {root}" if broken or args.keep else ""
    print(f"{len(selected)} cases, {kept} kept the contract ({time.monotonic() - t0:.0f} s{kept_in})")
    if not broken and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
