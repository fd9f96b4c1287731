"""Where runs are computed: in this process, in local worker processes, or on Dask workers.

An executor computes the (index, run) pairs it pulls from an iterator — pulling only as it has room,
so runs are claimed just before they start — and yields (index, outcome) as they finish; `compute`
gives a run's outcome (status, message, files as bytes) and touches no file: the runner records it.
Every executor computes with BLAS_THREADS BLAS threads, so a run's numbers do not depend on where it
ran. Dask workers are checked for this process's versions and given the user modules runs name.

How far each run is comes back from wherever it computes — a callback in this process, a
multiprocessing queue from local workers, a Dask queue from Dask workers — as
progress(index, done, total), at most every REPORT_EVERY seconds per run (and at its start and
end), so a sweep's bar moves with the work inside its runs.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from pgcli import __version__, kinds
from pgcli.base import usercode
from pgcli.base.progress import Progress, silent
from pgcli.shell import atomic

if TYPE_CHECKING:
    from pgcli.shell.plan import Run


def versions() -> dict:
    """The versions that make results byte-identical: pgcli, numpy, gymnasium, Python."""
    return {
        "pgcli": __version__,
        "numpy": np.__version__,
        "gymnasium": _gymnasium_version(),
        "python": sys.version.split()[0],
    }


def machine() -> dict:
    """What computed a run, for a report (never compared, unlike `versions`): the operating
    system, the processor and how many cores this process may use. No host name: reports are sent."""
    import platform

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"system": platform.platform(terse=True), "processor": _processor(), "cores": cores}


def _processor() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else its architecture."""
    import platform

    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    return platform.processor() or platform.machine()


def _gymnasium_version() -> str:
    """gymnasium.__version__, from its installed metadata unless it is loaded: importing gymnasium
    costs a run that needs no environment (estimate) a tenth of a second."""
    if "gymnasium" in sys.modules:
        return sys.modules["gymnasium"].__version__
    from importlib.metadata import version

    return version("gymnasium")


# ---------------------------------------------------------------------------------------------
# one run, computed wherever an executor puts it; it touches no file


def compute(run: Run, progress: Progress = silent, apart: bool = False) -> dict:
    """Compute one run where it is (this process, a local worker, a Dask worker); touches no file.

    Returns the run's outputs: status, message (one line), wall_s, notes, error (the traceback of a
    failed run), versions (of the process that computed it) and files, {file name: bytes} with
    the table's CSV first. Never raises for a failing run. In this process a KeyboardInterrupt is
    Ctrl-C and goes up; `apart` (a worker, where Ctrl-C is the parent's) it came from the run's own
    code and fails the run like any other exception."""
    kind = kinds.get(run.kind)
    start = time.perf_counter()
    outcome = {"status": "done", "message": "", "notes": [], "error": "", "versions": versions(), "files": {}}
    outcome["machine"] = machine()
    usercode.allow(run.modules)  # found in trusted directories when the run was planned
    try:
        result = kind.run(run.spec, progress)
        outcome["files"] = {kind.table: atomic.csv_text(result.table).encode(), **result.files}
    except BaseException as err:  # a failing run is reported, not fatal to the sweep (sys.exit in user code too)
        if isinstance(err, KeyboardInterrupt) and not apart:
            raise
        outcome.update(status="failed", message=one_line(f"{describe(err)}{usercode.where(err)}"))
        outcome["error"] = traceback.format_exc()
    else:
        outcome.update(status=result.status, message=one_line(result.message), notes=list(result.notes))
    outcome["wall_s"] = time.perf_counter() - start
    return outcome


def contained(run: Run) -> bool:
    """Whether a run computes in a process of its own, even with --jobs 1: it runs your code (a
    module it names), which may exit the process or hang, or it has a timeout."""
    return bool(run.modules) or run.spec.get("timeout") is not None


REPORT_EVERY = {"local": 0.2, "dask": 0.5}  # seconds between a run's progress messages (Dask's go via the scheduler)
_PROGRESS = None  # a local worker's progress pipe (set by _local_worker)


def reporter(put, index: int, every: float) -> Progress:
    """A Progress that sends [index, done, total] through `put`, at most every `every` seconds
    (and always at the start and the end); a lost channel never fails the run."""
    last = -float("inf")

    def report(done: int, total: int, /, **status: float) -> None:
        nonlocal last
        now = time.monotonic()
        if done == 0 or done >= total or now - last >= every:
            last = now
            with contextlib.suppress(Exception):
                put([index, int(done), int(total)])

    return report


def compute_remote(run: Run, expected: dict | None = None, shipped: bool = False, kind_module: str = "",
                   index: int | None = None, queue=None) -> dict:  # fmt: skip
    """`compute` in a worker process: BLAS_THREADS BLAS threads from now on, and (unless
    `expected` is None) the client's versions, else the run fails saying which differ. On a Dask
    worker (`shipped`) the run's user modules are where ship_modules put them (or installed).
    `kind_module` defines the run's kind, registered here if the worker does not know it (a kind
    registered at run time in the client, pgcli.kinds.register). With `index`, its progress goes
    to `queue` (a Dask queue), or to this local worker's pipe."""
    global _blas_limited
    if kind_module and run.kind not in kinds.REGISTRY:
        kinds.register(kind_module)
    if not _blas_limited:
        blas_threads()  # for good: restoring per run would race with the worker's other threads
        _blas_limited = True
    if expected is not None and (differ := _differences(versions(), expected)):
        message = f"worker environment differs from the client's: {differ}"
        return {"status": "failed", "message": message, "wall_s": 0.0, "notes": [], "error": "", "files": {}}
    if shipped:
        run = run._replace(modules=tuple(module._replace(root=_root_here(module.name)) for module in run.modules))
    channel = queue if queue is not None else _PROGRESS
    progress = silent
    if index is not None and channel is not None:
        put = channel.put if queue is not None else channel.send
        progress = reporter(put, index, REPORT_EVERY["dask" if shipped else "local"])
    with captured_output(fds=not shipped) as output:
        outcome = compute(run, progress, apart=True)
    outcome["output"] = output()
    return outcome


START_S = 5  # seconds for a worker process to start (Python, NumPy, pgcli), beside a spec's timeout


def validate_apart(kind: str, specs: list[dict], modules) -> tuple[str, str] | None:
    """Validate runs that name your code in a worker process — the checks import and call it (a
    probe of f, the env's constructor), and an exit, a crash or a print there must not reach pgcli.
    None when they are valid, else (the one-line reason they are bad input, a missing extra)."""
    from concurrent.futures import TimeoutError as FutureTimeout
    from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
    from multiprocessing import get_context

    timeouts = [spec.get("timeout") for spec in specs]
    # every run has a timeout: so has checking them, with START_S more for the worker to start
    limit = None if None in timeouts else sum(timeouts) + START_S
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_local_worker, initargs=(os.getpid(),))
    try:
        with worker_environment(), _sigint_blocked():
            future = pool.submit(_validate, kind, kinds.REGISTRY[kind], specs, tuple(modules))
        return future.result(timeout=limit)
    except BrokenProcessPool:
        return (
            f"your code ({module_files(modules)}) ended pgcli's process while it checked the spec (os._exit, or a crash)",
            "",
        )
    except FutureTimeout:
        _terminate(pool)
        return (
            f"checking the spec ran your code ({module_files(modules)}), which took longer than the spec's timeout "
            f"({limit - START_S:g} s, and {START_S} s to start its process); its process was stopped",
            "",
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _validate(kind: str, kind_module: str, specs: list[dict], modules) -> tuple[str, str] | None:
    """In a worker: each spec validated by its kind with `modules` admitted; its output discarded."""
    if kind not in kinds.REGISTRY:
        kinds.register(kind_module)
    usercode.allow(modules)
    with captured_output():
        for spec in specs:
            try:  # no KeyboardInterrupt comes from Ctrl-C here (workers ignore SIGINT): it is your code's
                kinds.get(kind).validate(spec)
            except ValueError as err:  # SpecError, UserCodeError, DistError, FunctionError: bad input
                extra = getattr(err, "extra", "")
                return describe(err).partition(": ")[2], extra if isinstance(extra, str) else ""  # strings only leave
            except BaseException as err:  # sys.exit, GeneratorExit... in your code while it was checked
                return f"checking the spec ran your code, which raised {describe(err)}{usercode.where(err)}", ""
    return None


@contextmanager
def captured_output(fds: bool = True):
    """What code prints inside the block — sys.stdout and sys.stderr, and with `fds` whatever
    reaches file descriptors 1 and 2 too — goes to a temporary file instead of pgcli's output;
    the block's value is a function returning that text. Closing sys.stdout inside is harmless."""
    saved = sys.stdout, sys.stderr
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as sink:
        fd_saved = [os.dup(1), os.dup(2)] if fds else []
        for stream in saved:
            with contextlib.suppress(ValueError, OSError):
                stream.flush()
        for fd in (1, 2) if fds else ():
            os.dup2(sink.fileno(), fd)
        capture = open(sink.fileno(), "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdout = sys.stderr = capture
        text = ""
        try:
            yield lambda: text
        finally:
            with contextlib.suppress(ValueError, OSError):
                capture.flush()
            sys.stdout, sys.stderr = saved
            for fd, copy in zip((1, 2), fd_saved, strict=False):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            text = sink.read()[-MAX_OUTPUT:]


MAX_OUTPUT = 1_000_000  # characters of a run's output kept in its output.txt (the last ones)


def _root_here(top: str) -> str:
    """The sys.path entry this process imports module `top` from (a directory, or a shipped zip)."""
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        return ""
    origin = Path(spec.origin)
    return str(origin.parent.parent if spec.submodule_search_locations is not None else origin.parent)


def one_line(text) -> str:
    """Text on one line: runs of whitespace (newlines too) as one space."""
    return " ".join(str(text).split())


def describe(err: BaseException) -> str:
    """'Type: message' of an exception, even one whose __str__ fails (user code's exceptions)."""
    try:
        text = str(err)
    except BaseException as inner:  # any failure of user code's __str__, sys.exit in it too
        text = f"<its message could not be read: {type(inner).__name__}>"
    return f"{type(err).__name__}: {text}"


def module_files(modules) -> str:
    """Where your modules are, for a message: 'DIR/mine.py, DIR/pkg/'."""
    files = []
    for module in modules:
        path = Path(module.root) / module.name
        files.append(f"{path}.py" if path.with_name(module.name + ".py").is_file() else f"{path}/")
    return ", ".join(files) or "no module of yours"


# Every executor computes with this many BLAS threads (threadpoolctl), so a run's numbers do not
# depend on where it ran: multi-threaded BLAS sums in another order (last digits of grad_snr for
# policy.hidden: [256, 256]). See the README's Performance table for what it costs --jobs 1.
BLAS_THREADS = 1
_controller = None
_blas_limited = False


def blas_threads():
    """Limit this process's BLAS to BLAS_THREADS threads; as a context, only inside the block."""
    global _controller
    if _controller is None:  # inspecting the loaded libraries takes ms: once per process
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=BLAS_THREADS, user_api="blas")


def _differences(theirs: dict, mine: dict) -> str:
    return ", ".join(f"{k} {theirs.get(k)} (client: {v})" for k, v in mine.items() if theirs.get(k) != v)


# ---------------------------------------------------------------------------------------------
# executors: each computes the (index, run) pairs it pulls from `items` — pulling only as it has
# room, so runs are claimed just before they start — and yields (index, outcome) as they finish


def serial(items, progress):
    """In this process; progress(index, done, total, **status) as each run goes."""
    with blas_threads():
        for i, run in items:
            yield i, compute(run, functools.partial(progress, i))


# Worker processes read these when they import numpy: one BLAS thread each, so N jobs do not
# oversubscribe the cores.
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def worker_environment():
    """Environment inherited by worker processes started inside the block (one BLAS thread)."""
    saved = {k: os.environ.get(k) for k in BLAS_ENV}
    os.environ.update(BLAS_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _local_worker(parent: int, queue=None):
    """Initializer of local workers: Ctrl-C is the parent's to handle (no worker tracebacks), a
    worker dies with its parent, however the parent ends (SIGTERM, SIGKILL), and its runs'
    progress goes to `queue` (the send end of a pipe)."""
    global _PROGRESS
    _PROGRESS = queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the lines above
        os._exit(1)


@contextmanager
def _terminate_exits():
    """SIGTERM raises SystemExit here (in the main thread), so the pool's workers are stopped
    on the way out, even those still starting up; SIGKILL is left to PR_SET_PDEATHSIG."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_terminate(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def _sigint_blocked():
    """SIGINT held back in this thread, so processes it starts inherit it blocked: a Ctrl-C that
    reaches a worker while it starts up (importing) prints no traceback; here it comes after."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _watch_parent(parent: int):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _lost(err, run: Run | None = None) -> dict:
    code = f" running your code ({module_files(run.modules)})" if run is not None and run.modules else ""
    message = one_line(
        f"worker lost (its process ended{code}: a crash, or code calling os._exit): {type(err).__name__}: {err}"
    )
    return {"status": "failed", "message": message, "wall_s": 0.0, "notes": [], "error": "", "files": {}}


def processes(items, jobs, paced=False, progress=None):
    """`jobs` spawned worker processes. A worker that dies breaks the pool: the runs it had in
    flight are tried once more in a new pool, and fail as 'worker lost' if it breaks again. A run
    with a timeout that is not done in time fails, and its pool is stopped (the others run again);
    `paced` (timeouts in play): a run is handed over only when a worker is free, so its clock
    starts when it does. The workers' progress messages reach `progress` through a pipe read by a
    thread here: each message is one write of under PIPE_BUF bytes, so workers share the pipe with
    no lock (a worker stopped mid-run cannot leave one held), and a run's messages are in the
    pipe before its outcome is returned."""
    from multiprocessing import get_context

    items, retry, lost_once = iter(items), deque(), set()
    receive, send = get_context("spawn").Pipe(duplex=False) if progress is not None else (None, None)
    stop = threading.Event()
    reader = (
        threading.Thread(target=_forward, args=(receive, progress, stop), daemon=True) if progress is not None else None
    )
    if reader:
        reader.start()
    try:
        with _terminate_exits():
            yield from _pools(items, jobs, retry, lost_once, paced, send)
    finally:
        if reader:
            stop.set()
            reader.join(timeout=5)
            send.close()
            receive.close()


def _forward(receive, progress, stop):
    """Hand the messages [index, done, total] arriving on `receive` to progress until `stop`,
    then those still in the pipe."""
    while True:
        stopping = stop.is_set()
        try:
            while receive.poll(0 if stopping else 0.1):
                with contextlib.suppress(Exception):  # a bar must never stop the runs
                    progress(*receive.recv())
        except (OSError, EOFError):
            return
        if stopping:
            return


def _pools(items, jobs, retry, lost_once, paced, queue=None):
    from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor  # multiprocessing: --jobs only
    from multiprocessing import get_context

    while True:
        pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_local_worker,
                                   initargs=(os.getpid(), queue))  # fmt: skip
        inflight, deadlines, broken = {}, {}, None
        try:
            while True:
                room = jobs if paced else 2 * jobs
                while broken is None and len(inflight) < room:
                    pair = retry.popleft() if retry else next(items, None)
                    if pair is None:
                        break
                    with worker_environment(), _sigint_blocked():  # what workers started now inherit
                        future = pool.submit(
                            compute_remote, pair[1], None, False, kinds.REGISTRY[pair[1].kind], pair[0]
                        )
                    inflight[future] = pair
                    if contained_by_time(pair[1]):
                        deadlines[future] = time.monotonic() + pair[1].spec["timeout"]
                if not inflight:
                    break
                timeout = min((at - time.monotonic() for at in deadlines.values()), default=None)
                done, _ = wait(inflight, timeout=None if timeout is None else max(timeout, 0.0),
                               return_when=FIRST_COMPLETED)  # fmt: skip
                late = [f for f, at in deadlines.items() if f not in done and at <= time.monotonic()]
                if late:  # a worker past its run's timeout: the pool goes, the others run again
                    for future in late:
                        i, run = inflight.pop(future)
                        yield i, _timed_out(run)
                    retry.extendleft(reversed(list(inflight.values())))
                    _terminate(pool)
                    broken = "timeout"
                    break
                for future in done:
                    deadlines.pop(future, None)
                    i, run = inflight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as err:
                        broken = err
                        if i not in lost_once:
                            lost_once.add(i)
                            retry.append((i, run))
                            continue
                        outcome = _lost(err, run)
                    except KeyboardInterrupt:
                        raise
                    except BaseException as err:  # something of your code's got out of the worker: never pgcli's end
                        outcome = {**_lost(err, run), "message": one_line(f"the run's process failed: {describe(err)}")}
                    yield i, outcome
        except BaseException:
            _terminate(pool)
            raise
        if broken != "timeout":
            pool.shutdown(wait=True)
        if broken is None:
            return


def contained_by_time(run: Run) -> bool:
    """Whether a run has a timeout (spec key `timeout`, seconds)."""
    return run.spec.get("timeout") is not None


def _timed_out(run: Run) -> dict:
    message = f"timed out after {run.spec['timeout']:g} s (the spec's timeout); its process was stopped"
    return {
        "status": "failed",
        "message": message,
        "wall_s": run.spec["timeout"],
        "notes": [],
        "error": "",
        "files": {},
    }


def _terminate(pool):
    """Stop a pool's workers now: SIGKILL, which your code cannot ignore or block (SIGTERM it can)."""
    if hasattr(pool, "kill_workers"):  # Python ≥ 3.14
        pool.kill_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    for process in processes:
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached, dask is not installed, or its workers cannot run
    these runs as this process would (other versions, a module they lack)."""


SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_address(scheduler: str) -> None:
    """A scheduler address has the form [SCHEME://]HOST:PORT; checked before dask is imported."""
    if not scheduler.strip():
        raise SchedulerError("--scheduler is empty; expected tcp://HOST:PORT (or no --scheduler: a LocalCluster)")
    text = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise SchedulerError(f"--scheduler {scheduler!r} is not an address: {err}") from None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise SchedulerError(f"--scheduler {scheduler!r} is not an address; expected tcp://HOST:PORT")


CONNECT_S = 10  # seconds to reach a scheduler (one that accepts and says nothing is not one)


def check_speaks_first(scheduler: str) -> None:
    """A tcp:// scheduler writes its handshake as soon as a connection opens (so does a Dask
    worker's comm); a server that accepts and says nothing within CONNECT_S (an HTTP server, a
    silent socket) is not one: SchedulerError, rather than waiting on it for ever. A refused
    connection is tried again until CONNECT_S has passed, as Dask does (a scheduler starting up)."""
    import socket

    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if parts.scheme != "tcp":
        return
    shown, deadline, wait = scheduler[:200], time.monotonic() + CONNECT_S, 0.05
    while True:
        try:
            probe = socket.create_connection(
                (parts.hostname, parts.port), timeout=max(deadline - time.monotonic(), 0.01)
            )
            break
        except (ConnectionRefusedError, TimeoutError) as err:
            if time.monotonic() + wait >= deadline:
                why = "no answer" if isinstance(err, TimeoutError) else "connection refused"
                raise SchedulerError(f"cannot reach a Dask scheduler at {shown}: {why} within {CONNECT_S} s") from None
            time.sleep(wait)
            wait = min(wait * 2, 1.0)
        except (OSError, UnicodeError) as err:  # unresolvable, unreachable, a host name no resolver takes
            raise SchedulerError(
                f"cannot reach a Dask scheduler at {shown}: {getattr(err, 'strerror', None) or err}"
            ) from None
    with probe:
        probe.settimeout(max(deadline - time.monotonic(), 1.0))
        try:
            said = probe.recv(1)
        except TimeoutError:
            raise SchedulerError(
                f"the server at {shown} accepted a connection but said nothing within {CONNECT_S} s: not a Dask scheduler"
            ) from None
        except OSError as err:
            raise SchedulerError(
                f"the server at {shown} dropped the connection ({err.strerror or err}): not a Dask scheduler"
            ) from None
    if not said:
        raise SchedulerError(f"the server at {shown} closed the connection: not a Dask scheduler")


WORKERS_S = 60  # seconds for a first worker to join a scheduler that has none


def dask_client(scheduler: str | None, workers: int = 2, *, runs=(), allow_mixed: bool = False):
    """A Client for the scheduler address, or for a new LocalCluster when address is None, whose
    workers are checked (`check_workers`) and given the user modules `runs` name (`ship_modules`)."""
    if scheduler is not None:
        check_address(scheduler)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("the Dask executor needs dask.distributed: pip install 'pgcli[dask]'") from None
    if scheduler:
        import dask

        check_speaks_first(scheduler)

        try:
            with dask.config.set({"distributed.comm.timeouts.connect": f"{CONNECT_S}s"}):
                client = Client(scheduler, timeout=f"{CONNECT_S}s")
        except Exception as err:  # refused, timed out, not a Dask scheduler (an HTTP server, garbage)
            raise SchedulerError(f"cannot reach a Dask scheduler at {scheduler}: {one_line(err)[:200]}") from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_S)
        except Exception:
            client.close()
            raise SchedulerError(f"no Dask worker joined the scheduler at {scheduler} within {WORKERS_S} s "
                                 "(start one: dask worker ADDRESS)") from None  # fmt: skip
    else:
        with worker_environment():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        client = Client(cluster)
    try:
        if not allow_mixed:
            check_workers(client)
        ship_modules(client, runs)
    except BaseException:
        client.close()
        if not scheduler:
            client.cluster.close()
        raise
    return client


def check_workers(client):
    """Refuse Dask workers whose pgcli, numpy, gymnasium or Python version differs from this
    process's: results are byte-identical only within one environment."""
    mine = versions()
    for address, theirs in sorted(client.run(versions, on_error="return").items()):
        if isinstance(theirs, BaseException):
            raise SchedulerError(f"Dask worker {address} cannot run pgcli: {one_line(theirs)}")
        if differ := _differences(theirs, mine):
            raise SchedulerError(
                f"Dask worker {address} runs {differ}; results are byte-identical only within one "
                "environment: install the same versions there, or pass --allow-mixed"
            )


MAX_SHIPPED_BYTES = usercode.MAX_MODULE_BYTES


def ship_modules(client, runs):
    """Send the Dask workers every user module the runs name (found in trusted directories when
    they were planned), as Client.upload_file would (a worker plugin, so workers that join later
    get it too); a module in an installation's directory (--trust on site-packages) must be
    installed on every worker instead. Raises SchedulerError naming the module otherwise."""
    from distributed.diagnostics.plugin import UploadFile

    modules = {module.name: module for run in runs for module in run.modules}
    for top, module in sorted(modules.items()):
        if module.installed:
            missing = [a for a, ok in sorted(client.run(_importable, top).items()) if not ok]
            if missing:
                raise SchedulerError(f"module {top!r} (named by the spec) is not installed on Dask worker {missing[0]}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = _pack(top, Path(module.root), Path(tmp))
            name = f"pgcli-module-{top}-{module.digest}"
            try:
                client.register_plugin(UploadFile(str(path)), name=name)
            except Exception as err:
                with contextlib.suppress(Exception):  # or workers that join later fail it too
                    client.unregister_worker_plugin(name)
                raise SchedulerError(f"cannot ship module {top!r} to the Dask workers: {one_line(err)}") from None


def _importable(top: str) -> bool:
    return importlib.util.find_spec(top) is not None


def _pack(top: str, root: Path, tmp: Path) -> Path:
    """A module file as is, a package as top.zip (sources only): what Dask's upload_file takes."""
    import zipfile

    if (root / f"{top}.py").is_file():
        return root / f"{top}.py"
    target, size = tmp / f"{top}.zip", 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                size += path.stat().st_size
                if size > MAX_SHIPPED_BYTES:
                    raise SchedulerError(
                        f"package {top!r} ({root / top}) is over {MAX_SHIPPED_BYTES // 10**6} MB: "
                        "install it on the Dask workers instead of shipping it"
                    )
                archive.write(path, Path(top) / path.relative_to(root / top))
    return target


def dask(items, client, expected, progress=None):
    """Futures released as soon as their outcome is here, so a worker lost later costs no
    finished run; at most ~2 runs per worker thread queued at a time. The runs' progress comes
    through a Dask queue that a thread here reads."""
    from dask.distributed import Queue
    from dask.distributed import as_completed as dask_completed

    queue = (
        Queue(f"pgcli-progress-{os.getpid()}-{time.monotonic_ns()}", client=client) if progress is not None else None
    )
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(queue, progress, stop), daemon=True)
    if progress is not None:
        poller.start()
    items, pending = iter(items), {}
    completed = dask_completed(with_results=True, raise_errors=False)  # gathered in the background
    window, checked = 16, 0.0

    def refill():
        nonlocal window, checked
        if time.monotonic() - checked > 1.0:  # workers come and go (adaptive clusters)
            window, checked = max(16, 2 * sum(client.nthreads().values())), time.monotonic()
        while len(pending) < window and (pair := next(items, None)) is not None:
            run = pair[1]
            future = client.submit(compute_remote, run, expected, True, kinds.REGISTRY[run.kind], pair[0], queue,
                                   key=f"pgcli-{run.run_id}", pure=False)  # fmt: skip
            pending[future.key] = (pair[0], future)
            completed.add(future)

    try:
        refill()
        for future, outcome in completed:
            i, _ = pending.pop(future.key)
            if isinstance(outcome, BaseException):  # KilledWorker and friends
                outcome = _lost(outcome)
            future.release()
            del future
            yield i, outcome
            refill()
    except (OSError, RuntimeError, TimeoutError) as err:  # the scheduler went away: what is finished stays
        lost = {"status": "failed", "message": one_line(f"the Dask scheduler was lost: {type(err).__name__}: {err}"),
                "wall_s": 0.0, "notes": [], "error": "", "files": {}}  # fmt: skip
        for i, _ in list(pending.values()):
            yield i, lost
        for i, _ in items:
            yield i, lost
        pending.clear()
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(timeout=5)
        if pending:
            with contextlib.suppress(Exception):
                client.cancel([future for _, future in pending.values()])


def _poll(queue, progress, stop):
    """Read a Dask queue's progress messages every REPORT_EVERY["dask"] / 2 s until `stop`, then
    those still queued (a run's messages are queued before its outcome is returned)."""
    while True:
        stopping = stop.wait(REPORT_EVERY["dask"] / 2)
        try:
            messages = queue.get(batch=True)
        except Exception:  # the scheduler is going or gone: the runs say so themselves
            return
        for message in messages:
            with contextlib.suppress(Exception):
                progress(*message)
        if stopping:
            return


def start(items, runs, count, *, jobs, client, allow_mixed, progress=None):
    """The executor for these options (Dask with a client; local processes for jobs > 1 and several
    runs, or for runs that are `contained`; else this process), started on `items`: yields
    (index, outcome) as runs finish, and calls progress(index, done, total) as they go."""
    if client is not None:
        return dask(items, client, None if allow_mixed else versions(), progress)
    if (jobs > 1 and count > 1) or any(map(contained, runs)):
        return processes(items, max(1, min(jobs, count)), any(map(contained_by_time, runs)), progress)
    return serial(items, ignore if progress is None else progress)


def ignore(*args, **status) -> None:
    """The progress of runs nobody watches."""
