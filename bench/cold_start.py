"""Cold start: the time from launching ``tutor serve`` to its first answer to ``GET /api/v1/cards``.

Run: ``python bench/cold_start.py [--runs 5] [--no-bytecode] [--database sqlite|postgresql|both]``. Makes a fresh
database (a SQLite file in a temporary folder, or a PostgreSQL database on ``127.0.0.1:5432`` that it creates and
drops), runs ``tutor migrate`` and ``tutor cards load`` once, then launches ``tutor serve --no-access-log``
``--runs`` times: each run polls ``/healthz`` every 5 ms until the server answers, then asks for the card list
(the first real request, which opens the database and renders JSON) and stops the server. Prints each run
and the median; the target is under 1.5 s. A restart is what a deploy or a crashed worker costs, so this is
the figure that matters, not the time of an import measured in a warm shell.

An installed app has its bytecode compiled (``pip install`` writes it, as in the Dockerfile); a source
checkout run with ``PYTHONDONTWRITEBYTECODE=1`` compiles every module at every launch instead. So the timed
launches read bytecode from a temporary ``PYTHONPYCACHEPREFIX`` that an untimed first launch fills (the
working tree is left alone); ``--no-bytecode`` times the launches that compile everything.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_results import reference_loop_ms
from scratch_databases import create_database, drop_database

TUTOR = Path(sys.executable).with_name("tutor")
TARGET_S = 1.5


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, target: str) -> int | None:
    """The status of ``GET target``, or None when nothing listens yet."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", target)
        status = connection.getresponse().status
        connection.close()
        return status
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) ``pid`` has used: unlike the wall clock, not inflated by a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(env: dict[str, str], log: Path) -> tuple[float, float, float]:
    """Seconds from launch to the first ``/healthz`` answer, to the first card list, and CPU seconds used."""
    port = free_port()
    command = [str(TUTOR), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    started = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        while get(port, "/healthz") != 200:
            if server.poll() is not None:
                raise RuntimeError(f"tutor serve exited with {server.returncode}:\n{log.read_text()[-2000:]}")
            if time.perf_counter() - started > 30:
                raise RuntimeError("tutor serve did not answer within 30 s")
            time.sleep(0.005)
        healthz = time.perf_counter() - started
        status = get(port, "/api/v1/cards")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/cards answered {status}:\n{log.read_text()[-2000:]}")
        return healthz, time.perf_counter() - started, cpu_seconds(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure(kind: str, runs: int, no_bytecode: bool) -> None:
    """Time ``runs`` launches against a fresh ``kind`` database and print each run and the median."""
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    database: str | None = None
    try:
        url, database = create_database(kind, work, label="cold")
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "cold-start-benchmark-key",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if not no_bytecode:
            env["PYTHONPYCACHEPREFIX"] = str(work / "bytecode")
        for step in (["migrate"], ["cards", "load"]):
            subprocess.run([str(TUTOR), *step], env=env, check=True, capture_output=True)
        if not no_bytecode:  # the untimed launch that writes the bytecode the timed ones read
            one_run({k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}, work / "server.log")
        firsts, cpus = [], []
        for run in range(1, runs + 1):
            healthz, first, cpu = one_run(env, work / "server.log")
            firsts.append(first)
            cpus.append(cpu)
            print(
                f"{kind} run {run}: /healthz after {healthz:.2f} s, GET /api/v1/cards answered after "
                f"{first:.2f} s ({cpu:.2f} s of CPU)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if database is not None:
            drop_database(database)
    median = statistics.median(firsts)
    verdict = "met" if median < TARGET_S else "not met"
    bytecode = "compiling every module" if no_bytecode else "bytecode compiled"
    print(
        f"{kind} cold start (launch → first answer, {bytecode}), median of {runs}: {median:.2f} s "
        f"(target < {TARGET_S} s: {verdict}); CPU used by then: {statistics.median(cpus):.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="launches to time (default 5)")
    parser.add_argument("--no-bytecode", action="store_true", help="compile every module at every launch")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "both"),
        default="sqlite",
        help="the database the server uses (default sqlite; postgresql needs one on 127.0.0.1:5432)",
    )
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql") if args.database == "both" else (args.database,):
        measure(kind, args.runs, args.no_bytecode)
    print(f"this machine's speed: reference loop {reference_loop_ms():.0f} ms of CPU (bench_results.reference_loop_ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
