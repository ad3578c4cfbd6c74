"""bench/RESULTS.md and the printed table, from the figures inbox.py measured."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class EndpointResult:
    name: str
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # size label -> (p50, p99) ms
    statements: int | None = None  # at the largest size
    raw_p50: float | None = None  # ms, at the largest size
    floor: tuple[float, float] | None = None  # (p50, p99) ms through bench/stack_floor.py, at the largest size
    # (the small tenant's p50, this tenant's p50) in ms at the largest size, their requests taking turns
    beside: tuple[float, float] | None = None
    plans: list[tuple[str, str]] = field(default_factory=list)  # (statement, EXPLAIN text)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # why -> size labels it was not measured at

    def growth(self, labels: list[str]) -> tuple[float, str] | None:
        """(p50 at the largest size / p50 at the smallest size it was measured at, that size)."""
        measured = [label for label in labels if label in self.latency]
        if len(measured) < 2 or measured[-1] != labels[-1]:
            return None
        return self.latency[measured[-1]][0] / self.latency[measured[0]][0], measured[0]

    def note(self, labels: list[str]) -> str:
        return "; ".join(
            why if sizes == labels else f"{why} at {', '.join(sizes)}" for why, sizes in self.skipped.items()
        )


def machine() -> str:
    memory = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])  # noqa: SIM115
        memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} CPUs (nproc){memory}, {system}"


def git_commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)  # noqa: S603, S607
        # Changed tracked files only: an untracked file (a worktree's .venv link) changes nothing measured.
        dirty = subprocess.run(  # noqa: S603
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def latency_table(results: list[EndpointResult], labels: list[str]) -> str:
    largest = labels[-1]
    head = ["endpoint", *[f"p50/p99 at {label} msgs" for label in labels], "SQL stmts", f"raw SQL p50 at {largest}"]
    head += [f"stack floor p50/p99 at {largest}", "growth", f"small tenant -> this one, in turn at {largest}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        cells = [result.name]
        for label in labels:
            p50_p99 = result.latency.get(label)
            cells.append(f"{p50_p99[0]:.1f}/{p50_p99[1]:.1f} ms" if p50_p99 else "—")
        cells.append(str(result.statements) if result.statements is not None else "—")
        cells.append(f"{result.raw_p50:.1f} ms" if result.raw_p50 is not None else "—")
        cells.append(f"{result.floor[0]:.1f}/{result.floor[1]:.1f} ms" if result.floor else "—")
        growth = result.growth(labels)
        if growth is None:
            cells.append("—")
        else:
            cells.append(f"{growth[0]:.1f}x" + ("" if growth[1] == labels[0] else f" (from {growth[1]})"))
        if result.beside:
            small, this = result.beside
            cells.append(f"{small:.1f} -> {this:.1f} ms ({this / small:.1f}x)")
        else:
            cells.append("—")
        if note := result.note(labels):
            cells[0] += f" ({note})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_CPU_NAMES = {"worker": "worker (with its children)"}


def throughput_table(figures: dict) -> str:
    if not figures:
        return "(not run)"
    cpu = figures["cpu_ms"].items()
    rows = [
        ("sends", f"{figures['sends']} to new numbers, {figures['threads']} client threads"),
        ("end to end (first request -> last message `sent`)", f"**{figures['end_to_end_rate']:.1f} messages/s**"),
        ("API send rate (worker stopped)", f"{figures['api_rate']:.1f} requests/s (p50 {figures['api_p50']:.1f} ms)"),
        ("worker drain rate (queued sends, worker started)", f"{figures['drain_rate']:.1f} messages/s"),
        ("end to end: tasks the worker ran", figures.get("end_to_end_tasks", "—")),
        ("worker drain: send tasks", figures.get("drain_task_runs", "—")),
        *((f"CPU per delivered message, {_CPU_NAMES.get(name, name)}", f"{ms:.1f} ms") for name, ms in cpu),
        ("SQL statements per send, API part", str(figures.get("api_statements", "—"))),
        ("SQL statements per send, worker part", str(figures.get("worker_statements", "—"))),
    ]
    return "\n".join(["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


READING = "## Reading these figures"


def kept_reading(previous: Path) -> str:
    """The hand-written section of the previous report, kept when the file is regenerated."""
    text = previous.read_text() if previous.exists() else ""
    return "\n" + text[text.index(READING) :] if READING in text else ""


def render(
    *,
    command: str,
    labels: list[str],
    results: list[EndpointResult],
    seeding: dict[str, float],
    throughput: dict,
    pg_version: str,
    notes: list[str],
) -> str:
    parts = [
        "# The inbox at scale (bench/inbox.py)",
        "",
        'Generated by the command below; the section "Reading these figures" at the end is written by',
        "hand and kept when the file is regenerated. The load average in Notes says whether anything else",
        "shared the machine.",
        "",
        f"- Machine: {machine()}; {pg_version}",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {git_commit()}",
        "- Seeding (COPY, indexes rebuilt, VACUUM ANALYZE): "
        + ", ".join(f"{label} in {seconds:.0f} s" for label, seconds in seeding.items()),
        "",
        "## Latency through the Procfile's gunicorn, from a second process on loopback",
        "",
        "Sizes are the large tenant's messages (10 per conversation, 2 conversations per contact), beside a",
        "1,000-conversation tenant. p50/p99 over sequential keep-alive requests after a warm-up. SQL",
        "statements: what one request issues (captured in-process with a `before_cursor_execute` listener;",
        "BEGIN and COMMIT are not counted). Raw SQL: the same statements and parameters replayed through",
        "psycopg on one connection as the app runs them (a read's each on its own, a write's in one",
        "transaction), p50 of the whole set. Stack floor: the same requests to bench/stack_floor.py under",
        "the same gunicorn configuration, a Flask app that runs the captured statements through psycopg",
        "and sends the captured answer: what gunicorn, Flask and the SQL cost with none of our code.",
        "Growth: p50 at the largest size / p50 at the smallest. Runs minutes apart drift on a shared",
        "machine, so at the largest size each request also takes turns, one at a time, with the same",
        "request for the small tenant beside it (bench/inbox.py's SMALL_TENANT, on the same tables):",
        "the last column's two p50s saw the same moments of the machine.",
        "",
        latency_table(results, labels),
        "",
        "## Outbound throughput (web + worker + beat, simulator provider)",
        "",
        throughput_table(throughput),
        "",
    ]
    if notes:
        parts += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    parts += [f"## EXPLAIN (ANALYZE, BUFFERS) at {labels[-1]} messages", ""]
    seen: set[str] = set()
    for result in results:
        if not result.plans:
            continue
        parts += [f"### {result.name}", ""]
        for statement, plan in result.plans:
            if statement in seen:
                parts += [f"- (already shown) `{statement[:120]}...`", ""]
                continue
            seen.add(statement)
            parts += ["<details><summary><code>" + _html(statement[:160]) + "</code></summary>", "", "```"]
            parts += [statement, "", plan, "```", "", "</details>", ""]
    return "\n".join(parts)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
