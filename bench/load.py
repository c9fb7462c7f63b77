"""Load test of the real server: answering a card through the API and rendering its page, against ``/healthz``.

Run: ``python bench/load.py [--db sqlite|postgresql|both] [--rounds 3] [--duration 8] [--connections 50]``.
For each database it makes a fresh one (a temporary SQLite file; a PostgreSQL database it creates and drops),
runs ``tutor migrate`` and ``tutor cards load``, seeds one account and API token per simulated learner, then
launches ``tutor serve --no-access-log`` (timing the cold start: launch to the first answered request) and
drives it with wrk from a second process on 127.0.0.1:

* ``GET /healthz`` (the ceiling: the same server, middleware and event loop, no work behind it);
* ``POST /api/v1/cards/{slug}/submissions``: each learner answers its own variant of a drawn card, cycling
  through a right answer, a reversed KL (a misconception the grader must name), an option and a number
  written with a comma, and wrong numbers; every request is graded and stored;
* ``POST /cards/{slug}``: the same answers sent from the card's form by the same learners signed in in a
  browser (session cookie and form token), answered with a redirect to the result;
* ``GET /cards/{slug}``: the page as a returning guest sees it (their own variant), and with a fresh random
  variant each time (no cache can help: the cost of generating a variant).

Why wrk and not a Python driver: on a two-core machine the driver competes with the server for the CPU.
wrk is event-driven C and spends a small fraction of a core on tens of thousands of requests a second,
while an asyncio httpx client spends more CPU per request than the server does on ``/healthz``, so its
"ceiling" would measure the client. wrk runs closed-loop (each connection sends its next request when the
last one is answered), which is what many concurrent learners waiting on their feedback look like.

Figures: requests/s, p50/p95/p99 latency, errors (socket errors, timeouts and every status other than the
expected one), the server's CPU time per request (user + system, from /proc: the figure that moves least with
whatever else runs on the machine) and peak RSS per worker (VmHWM, reset before each scenario). Every figure
is also a ratio to ``/healthz`` of the same run, which is what counts on a shared machine. The endpoints are measured
in rounds (``/healthz`` first in each), and the table gives the median of each figure over the rounds: a single
8-second run's p99 moves by several times from one run to the next here. Prints a table and merges
``{"load": ...}`` into bench/results.json (with every round's figures), leaving other keys alone.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench_results import merge_results, reference_loop_ms
from scratch_databases import create_database, drop_database
from sqlalchemy import func, select

from app.db.models import Submission, User
from app.db.session import make_engine, make_sessionmaker
from app.domain.cards import generate
from app.domain.divergence import kl
from app.domain.grading import grade
from app.services.accounts import hash_password
from app.services.catalog import get_card
from app.services.tokens import create_token
from app.web.auth import SESSION_COOKIE, SessionPayload, SessionSigner
from app.web.csrf import CsrfTokens
from app.web.guest import COOKIE_NAME, GuestSigner, new_guest_id

BENCH = Path(__file__).resolve().parent
TUTOR = Path(sys.executable).with_name("tutor")
SLUG = "compare-two-students"  # parameters drawn per seed: every learner has a variant of their own
SECRET_KEY = "load-benchmark-signing-key"
TARGETS = {"submit_ratio": 0.20, "submit_p99_ms": 100.0, "page_ratio": 0.50, "page_p99_vs_healthz": 2.0,
           "cold_start_s": 1.5}
Request = tuple[str, str, dict[str, str], str | None]


def lua_string(text: str) -> str:
    if not text.isascii() or any(ord(ch) < 32 for ch in text):
        raise ValueError(f"not plain ASCII: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_lua(path: Path, requests: list[Request]) -> Path:
    """The requests as a Lua table for bench/load.lua (wrk's scripts are Lua; it reads no JSON)."""
    rows = []
    for method, target, headers, body in requests:
        fields = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        rows.append(f"{{{lua_string(method)}, {lua_string(target)}, {{{fields}}}, "
                    f"{'nil' if body is None else lua_string(body)}}}")
    path.write_text("return {\n" + ",\n".join(rows) + "\n}\n")
    return path


def answer_sets(variant: Any) -> list[dict[str, Any]]:
    """Four answers to one variant: right; a reversed KL and the wrong option; commas; wrong numbers."""
    right = dict(variant.answers)
    a, b = float(right["loss_a"]), float(right["loss_b"])
    p, qa = variant.params["P"], variant.params["QA"]
    other = next(c for c in variant.parts[2].choices if c != right["better"])
    return [
        {"loss_a": round(a, 5), "loss_b": f"{b:.4e}", "better": right["better"]},
        {"loss_a": round(float(kl(qa, p)), 5), "loss_b": round(b, 5), "better": other},
        {"loss_a": f"{a:.4f}".replace(".", ","), "loss_b": f" {b:.5f} ", "better": right["better"]},
        {"loss_a": round(a * 2 + 0.05, 4), "loss_b": round(b / 3, 4), "better": other},
    ]


def seed_learners(url: str, count: int) -> tuple[list[Request], list[Request], list[Request]]:
    """One account per learner, with an API token and a browser session: their submissions through the API and
    through the card's form, cycling over answer sets; guest page views."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            spec = get_card(session=session, slug=SLUG).spec
            password_hash = hash_password(secrets.token_urlsafe(16))  # argon2 once: nobody signs in with it
            users = [User(email=f"learner{i}@load.example", password_hash=password_hash, role="learner")
                     for i in range(count)]
            session.add_all(users)
            session.commit()
            tokens = [create_token(session=session, user=user, name="load test", scopes=["read", "submit"]).secret
                      for user in users]
            user_ids = [user.id for user in users]
    finally:
        engine.dispose()
    sessions, csrf = SessionSigner(SECRET_KEY), CsrfTokens(SECRET_KEY)
    per_learner: list[list[Request]] = []
    per_browser: list[list[Request]] = []
    for i, (token, user_id) in enumerate(zip(tokens, user_ids, strict=True)):
        seed = 1_000 + 7 * i
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        answers = answer_sets(generate(spec, seed))
        bodies = [json.dumps({"seed": seed, "answers": one}) for one in answers]
        per_learner.append([("POST", f"/api/v1/cards/{SLUG}/submissions", headers, body) for body in bodies])
        # The learner signed in in a browser: their session cookie and its form token, as the sign-in made them.
        session_id = f"load-session-{i}"
        cookie = sessions.sign(SessionPayload(user_id=user_id, version=0, session_id=session_id))
        form_headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Content-Type": "application/x-www-form-urlencoded"}
        forms = [urlencode({"seed": seed, **one, "csrf_token": csrf.token_for("session", session_id)})
                 for one in answers]
        per_browser.append([("POST", f"/cards/{SLUG}", form_headers, form) for form in forms])
    # Round by round, every learner once per round: consecutive requests come from different learners.
    submits = [learner[k] for k in range(4) for learner in per_learner]
    form_posts = [browser[k] for k in range(4) for browser in per_browser]
    signer = GuestSigner(SECRET_KEY)
    pages: list[Request] = [
        ("GET", f"/cards/{SLUG}", {"Cookie": f"{COOKIE_NAME}={signer.sign(new_guest_id())}"}, None)
        for _ in range(count)
    ]
    return submits, form_posts, pages


def count_stored(url: str) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return session.scalar(select(func.count()).select_from(Submission)) or 0
    finally:
        engine.dispose()


def check_stored(url: str, before: int, answered: int, connections: int) -> dict[str, Any]:
    """Every answer of the timed run (201, or 303 from the form) is a stored row (a few more may land as wrk
    stops), and grades are reproducible."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            stored = (session.scalar(select(func.count()).select_from(Submission)) or 0) - before
            sample = session.scalars(select(Submission).order_by(func.random()).limit(200)).all()
            spec = get_card(session=session, slug=SLUG).spec
            regraded = sum(
                grade(spec, generate(spec, row.seed), row.answers).score == row.score for row in sample
            )
    finally:
        engine.dispose()
    # Requests still in flight when the warm-up and the timed run stop are stored too, uncounted by wrk.
    ok = answered <= stored <= answered + 2 * connections and regraded == len(sample)
    return {"stored": stored, "answered": answered, "regraded_equal": regraded, "sampled": len(sample), "ok": ok}


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def worker_pids(server: subprocess.Popen[bytes], workers: int) -> list[int]:
    """The processes serving requests: the server itself, or the worker processes uvicorn spawned."""
    if workers == 1:
        return [server.pid]
    return [pid for pid in children(server.pid) if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5)), in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def reset_peak_rss(pids: list[int]) -> None:
    for pid in pids:
        # Resets VmHWM (Linux 4.0+); where that is refused, the figure is the peak since the worker started.
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mib(pids: list[int]) -> float:
    peaks = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return round(max(peaks), 1)


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Launch ``tutor serve``; the seconds until it answers ``GET /healthz`` (polled every 5 ms)."""
    command = [str(TUTOR), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
               "--workers", str(workers)]
    started = time.perf_counter()
    server = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    while time.perf_counter() - started < 30:
        if server.poll() is not None:
            raise RuntimeError(f"tutor serve exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server, time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    server.kill()
    raise RuntimeError("tutor serve did not answer within 30 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def run_wrk(port: int, args: argparse.Namespace, mode: str, data: Path, seconds: float) -> dict[str, Any]:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{round(seconds)}s",
               "--timeout", "5s", "-s", str(BENCH / "load.lua"), f"http://127.0.0.1:{port}", "--", mode, str(data)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return result


def measure(
    port: int, args: argparse.Namespace, mode: str, data: Path, expect: int, pids: list[int],
    before_timed: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """A warm-up, then the timed run: figures for one endpoint."""
    run_wrk(port, args, mode, data, args.warmup)
    before_timed()
    reset_peak_rss(pids)
    cpu = cpu_seconds(pids)
    raw = run_wrk(port, args, mode, data, args.duration)
    cpu = cpu_seconds(pids) - cpu
    expected = raw["statuses"].get(str(expect), 0)
    answered = sum(raw["statuses"].values())
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": answered - expected + raw["socket_errors"] + raw["timeouts"],
        "statuses": raw["statuses"],
        "expected_responses": expected,
        "peak_rss_mib": peak_rss_mib(pids),
        # The server's CPU time per request: unlike requests/s it hardly moves with what else the machine runs.
        "cpu_ms_per_request": round(cpu * 1000 / max(raw["requests"], 1), 3),
    }


def measure_storing(
    port: int, args: argparse.Namespace, data: Path, expect: int, pids: list[int], url: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``measure`` for the submissions, with the check that every answer ``expect`` of the timed run was stored."""
    before: list[int] = []
    figures = measure(port, args, "list", data, expect, pids, lambda: before.append(count_stored(url)))
    time.sleep(0.5)  # the requests in flight when wrk stopped are stored meanwhile
    return figures, check_stored(url, before[0], figures["expected_responses"], args.connections)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="load-bench-"))
    url, pg_name = create_database(kind, work, label="load")
    env = {
        **os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "PYTHONDONTWRITEBYTECODE": "1",
        # The limits are counted as in production, set high enough that fifty learners answering nonstop from one
        # address are never refused.
        "RATE_LIMIT_SUBMISSIONS": "1000000/minute", "RATE_LIMIT_SUBMISSIONS_IP": "100000000/minute",
        # A connection for every request in flight: a request keeps its connection between the thread-pool hops
        # of its dependencies, so with PostgreSQL's default pool (5 + 10) fifty clients stall until the pool
        # timeout (app.db.session lets a SQLite pool grow instead).
        "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": str(max(args.connections - 10, 10)),
    }
    try:
        for step in (["migrate"], ["cards", "load"]):
            subprocess.run([str(TUTOR), *step], env=env, check=True, capture_output=True)
        submits, form_posts, pages = seed_learners(url, args.connections)
        port = free_port()
        server, cold = start_server(env, port, args.workers, work / "server.log")
        try:
            pids = worker_pids(server, args.workers)
            data = {
                "healthz": ("list", write_lua(work / "healthz.lua", [("GET", "/healthz", {}, None)]), 200),
                "submit": ("list", write_lua(work / "submit.lua", submits), 201),
                "submit_form": ("list", write_lua(work / "submit_form.lua", form_posts), 303),
                "page": ("list", write_lua(work / "page.lua", pages), 200),
                "page_fresh_variant": ("fresh", work / "fresh.lua", 200),
            }
            (work / "fresh.lua").write_text(f"return {{path = {lua_string(f'/cards/{SLUG}')}}}\n")
            rounds, checks = [], []
            for _ in range(args.rounds):
                # Each round measures the ceiling again just before the endpoints it is the ceiling of.
                figures = {}
                for name, (mode, path, expect) in data.items():
                    if name in ("submit", "submit_form"):
                        figures[name], check = measure_storing(port, args, path, expect, pids, url)
                        checks.append(check)
                    else:
                        figures[name] = measure(port, args, mode, path, expect, pids)
                rounds.append(with_ratios(figures))
        finally:
            stop_server(server)
    finally:
        if pg_name:
            drop_database(pg_name)
        shutil.rmtree(work, ignore_errors=True)
    figures = {name: median_figures([r[name] for r in rounds]) for name in rounds[0]}
    submit, page = figures["submit"], figures["page"]
    stored = {key: sum(check[key] for check in checks) for key in ("stored", "answered", "regraded_equal", "sampled")}
    stored["ok"] = all(check["ok"] for check in checks)
    met = {
        "submit": submit["rps_vs_healthz"] >= TARGETS["submit_ratio"] and submit["p99_ms"] <= TARGETS["submit_p99_ms"]
        and submit["errors"] == 0 and stored["ok"],
        "page": page["rps_vs_healthz"] >= TARGETS["page_ratio"]
        and page["p99_vs_healthz"] <= TARGETS["page_p99_vs_healthz"] and page["errors"] == 0,
        "cold_start": cold < TARGETS["cold_start_s"],
    }
    return {"cold_start_s": round(cold, 3), "endpoints": figures, "rounds": rounds, "storage_check": stored,
            "targets_met": met}


def with_ratios(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each endpoint's figures of one round, with its ratios to that round's ``/healthz``."""
    ceiling = figures["healthz"]
    for row in figures.values():
        row["rps_vs_healthz"] = round(row["rps"] / ceiling["rps"], 3)
        row["p99_vs_healthz"] = round(row["p99_ms"] / ceiling["p99_ms"], 2)
        row["cpu_vs_healthz"] = round(ceiling["cpu_ms_per_request"] / max(row["cpu_ms_per_request"], 1e-9), 3)
    return figures


def median_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint over the rounds: the median of each figure and ratio (the ratios are each round's own, so a
    round slowed by something else on the machine moves both sides of it), every error, the highest peak."""
    summary = {key: statistics.median(row[key] for row in rows)
               for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request", "rps_vs_healthz",
                           "p99_vs_healthz", "cpu_vs_healthz")}
    summary.update(
        requests=sum(row["requests"] for row in rows),
        errors=sum(row["errors"] for row in rows),
        max_ms=max(row["max_ms"] for row in rows),
        peak_rss_mib=max(row["peak_rss_mib"] for row in rows),
    )
    return summary


LABELS = {"healthz": "GET /healthz (ceiling)", "submit": "POST …/submissions",
          "submit_form": "POST /cards/{slug} (form)", "page": "GET /cards/{slug}",
          "page_fresh_variant": "GET /cards/{slug}?seed=new"}


def table(results: dict[str, Any]) -> str:
    lines = ["| database | endpoint | req/s | × healthz | p50 ms | p95 ms | p99 ms | p99 × healthz | errors "
             "| CPU ms/req | × healthz by CPU | peak RSS/worker |", "|---|---|" + "---:|" * 10]
    for kind, result in results.items():
        for name, row in result["endpoints"].items():
            lines.append(f"| {kind} | {LABELS[name]} | {row['rps']:,.0f} | {row['rps_vs_healthz']:.2f} | "
                         f"{row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['p99_ms']:.1f} | "
                         f"{row['p99_vs_healthz']:.1f} | {row['errors']} | {row['cpu_ms_per_request']:.3f} | "
                         f"{row['cpu_vs_healthz']:.2f} | {row['peak_rss_mib']:.0f} MiB |")
        lines.append(f"| {kind} | cold start (launch → first answer) | | | | | | | | | | "
                     f"{result['cold_start_s']:.2f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--duration", type=int, default=8, help="seconds of each timed run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each timed run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every endpoint, ceiling first; "
                        "the figures are the medians")
    parser.add_argument("--connections", type=int, default=50, help="concurrent simulated learners")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = {kind: bench_database(kind, args) for kind in kinds}
    reference_ms = reference_loop_ms()
    print(f"{args.connections} connections, {args.workers} worker(s), {args.rounds} rounds of {args.duration:g} s "
          f"per endpoint (medians), {os.cpu_count()} CPUs, reference loop {reference_ms:.0f} ms of CPU")
    print(table(results))
    for kind, result in results.items():
        print(f"{kind}: stored {result['storage_check']}; targets met {result['targets_met']}")
    merge_results("load", {
        "settings": {"connections": args.connections, "workers": args.workers, "duration_s": args.duration,
                     "rounds": args.rounds, "wrk_threads": args.threads, "cpus": os.cpu_count(), "card": SLUG,
                     "reference_loop_ms": reference_ms},
        "targets": TARGETS,
        **results,
    })


if __name__ == "__main__":
    main()
