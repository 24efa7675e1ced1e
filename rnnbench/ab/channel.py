"""One worker of the paired A/B, seen from the coordinator: a request gets one reply.

:class:`ProcessChannel` is a real worker process in its own process group (so ending it ends a side
command's children too), speaking :mod:`rnnbench.core.protocol` over pipes, stderr to a log file; replies are
read with a deadline, never blocking forever. Faults become :class:`WorkerFailed` (exit 6: a worker that died,
answered nonsense or hung) or :class:`ProtocolUnavailable` (a side that cannot serve the protocol: fall back).
Workers are made by an injectable :data:`WorkerFactory`, so the coordinator is tested with in-process fake
workers on a simulated clock (``tests/phase_sim.py``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

from rnnbench.core import protocol
from rnnbench.core.values import file_tail
from rnnbench.errors import BenchmarkFailedError, RnnbenchError


class ProtocolUnavailable(RnnbenchError):
    """A side cannot serve the paired protocol (an older rnnbench, another protocol version): fall back."""


class WorkerFailed(BenchmarkFailedError):
    """A worker died, hung or broke the protocol mid-measurement (exit 6)."""


class Channel(Protocol):
    """One worker, seen from the coordinator: a request gets one reply."""

    label: str

    def send(self, message: dict[str, Any]) -> None:
        """Send one request without waiting (both sides build at once)."""
        ...

    def receive(self, what: str, timeout_s: float) -> dict[str, Any]:
        """Wait up to ``timeout_s`` for the reply to the request ``what``. Raises :class:`WorkerFailed` when
        the worker dies or does not answer, :class:`ProtocolUnavailable` when it answers something else than
        the protocol (only meaningful for the first hello)."""
        ...

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """:meth:`send` then :meth:`receive`."""
        ...

    def cpu_seconds(self) -> float:
        """CPU time the worker has used so far (NaN if unknown): how the coordinator sees whether the idle
        side steals time (OpenMP threads spinning after a block)."""
        ...

    def wait_idle(self, max_s: float) -> float:
        """Wait until none of the worker's threads is running (OpenMP threads spin for a while after a
        parallel region), at most ``max_s``; returns the seconds waited."""
        ...

    def close(self) -> None:
        """End the worker (quit if it answers, else kill) and everything it started."""
        ...

    def pin(self) -> tuple[int, ...] | None:
        """Move the worker — every thread of every process it started — onto its CPUs, if it has any;
        returns them (``None``: not pinned)."""
        ...


WorkerFactory = Callable[[str, Sequence[str], Path], Channel]
"""(side label, argv, log file) → a started worker."""


# ---- a real worker process -------------------------------------------------------------------------------
class ProcessChannel:
    """A worker in its own process group (so ending it ends a side command's children too), stdin/stdout
    pipes, stderr to a log file. Replies are read from the raw pipe with a deadline, never blocking forever."""

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path | None = None,
        cpus: Collection[int] | None = None,
    ) -> None:
        self.label = label
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=cwd or log_path.parent,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BenchmarkFailedError(f"{label}: cannot start {self.argv[0]}: {exc.strerror}") from None
        self._buffer = b""
        self.hung = False
        self.pid: int | None = None
        self._psutil: Any = None
        self.cpus = tuple(sorted(cpus)) if cpus else None

    def _readline(self, deadline: float, what: str) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.hung = True  # close() will not wait for it to read a quit it cannot read
                    raise WorkerFailed(
                        f"{self.label} worker did not answer '{what}' within its timeout (hung?); ended it. "
                        f"Its log: {self.log_path}"
                    )
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise self._died(what)
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", errors="replace")

    def _died(self, what: str) -> WorkerFailed:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else f"exited with status {code}"
            if code is not None
            else "closed its output"
        )
        return WorkerFailed(f"{self.label} worker {how} during '{what}'. {self.log_tail()}".strip())

    def log_tail(self, lines: int = 6) -> str:
        kept = file_tail(self.log_path, lines)
        return ("Its log (" + str(self.log_path) + "): " + " | ".join(kept)) if kept else ""

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self.send(message)
        return self.receive(str(message.get("op")), timeout_s)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(str(message.get("op"))) from None

    def receive(self, what: str, timeout_s: float) -> dict[str, Any]:
        line = self._readline(time.monotonic() + timeout_s, what)
        try:
            reply = json.loads(line)
        except ValueError:
            raise ProtocolUnavailable(
                f"{self.label} worker answered {line[:120]!r}, not a protocol reply"
            ) from None
        if not isinstance(reply, dict):
            raise ProtocolUnavailable(f"{self.label} worker answered {line[:120]!r}, not a protocol reply")
        if what == "hello" and isinstance(reply.get("pid"), int):
            self.pid = int(reply["pid"])
        return reply

    def cpu_seconds(self) -> float:
        try:
            if self._psutil is None:
                import psutil

                self._psutil = psutil.Process(self.pid or self.proc.pid)
            t = self._psutil.cpu_times()
            return float(t.user + t.system)
        except Exception:
            return math.nan

    def wait_idle(self, max_s: float) -> float:
        """Poll the state of every thread of the worker (``/proc/<pid>/task/*/stat``, Linux) every 0.5 ms
        until none is running: after its reply the worker's main thread sleeps in a pipe read, but OpenMP
        threads (``--threads`` > 1) keep spinning for a while and would steal the other side's core."""
        task = Path(f"/proc/{self.pid or self.proc.pid}/task")
        if not task.is_dir():
            return 0.0
        start = time.monotonic()
        while time.monotonic() - start < max_s:
            if not any(_running(stat) for stat in task.glob("*/stat")):
                break
            time.sleep(0.0005)
        return time.monotonic() - start

    def pin(self) -> tuple[int, ...] | None:
        """After the build: every thread of the worker's process tree (a side command's children, torch's and
        OpenMP's pools) onto ``cpus``; threads made later inherit it. Pinning after the build, not at the
        spawn, lets both sides build side by side on all cores while they measure on the same ones."""
        if not self.cpus:
            return None
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return self.cpus
        for proc in procs:
            try:
                tids = [t.id for t in proc.threads()]
            except psutil.Error:
                continue
            for tid in tids:
                with contextlib.suppress(OSError):  # a thread that ended meanwhile
                    os.sched_setaffinity(tid, self.cpus)
        return self.cpus

    def close(self) -> None:
        proc = self.proc
        if proc.poll() is None and not self.hung:  # a polite quit first (up to 2 s), unless it is hung
            try:
                assert proc.stdin is not None
                proc.stdin.write((json.dumps(protocol.QUIT) + "\n").encode())
                proc.stdin.flush()
                proc.wait(timeout=2)
            except Exception:
                pass
        if proc.poll() is None or _group_alive(proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def _running(stat: Path) -> bool:
    """Whether the thread whose ``/proc/…/stat`` this is is running (state ``R``)."""
    try:
        text = stat.read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2 : text.rfind(")") + 3] == "R"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def process_factory(label: str, argv: Sequence[str], log_path: Path) -> Channel:
    return ProcessChannel(label, argv, log_path)


def pinned_factory(cpus: Collection[int]) -> WorkerFactory:
    """A factory of real workers that measure on ``cpus`` (:meth:`ProcessChannel.pin`, after their build).
    Both sides get the same set: the paired mode's defence against vCPUs that differ in speed for seconds at a
    time."""
    chosen = frozenset(cpus)

    def factory(label: str, argv: Sequence[str], log_path: Path) -> Channel:
        return ProcessChannel(label, argv, log_path, cpus=chosen)

    return factory


def same_cpus(threads: int | None, allowed: Collection[int] | None = None) -> tuple[int, ...]:
    """The CPUs both sides run on: the last ``threads`` CPUs this process may use (the first ones take most
    interrupts on many machines); every allowed CPU when ``threads`` is unknown (torch's default: all)."""
    pool = sorted(allowed if allowed is not None else os.sched_getaffinity(0))
    if threads is None or threads >= len(pool):
        return tuple(pool)
    return tuple(pool[-max(1, threads) :])
