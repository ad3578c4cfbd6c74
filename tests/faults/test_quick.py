"""The fault suite's short form (`python bench/faults.py --quick`) as a test: the issue-10 bar on every row.

It starts its own PostgreSQL (initdb as the `postgres` OS user, so it needs root and the PostgreSQL 15
binaries), its own redis-server and the Procfile's processes, and takes 2-3 minutes on 2 cores. CI
(`.ci/run`, CI=true) runs it, and fails, never skips, when it cannot; a laptop's default run skips
it. Run it alone with `RUN_FAULTS=1 python -m pytest -m faults tests/faults`.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        os.environ.get("RUN_FAULTS") != "1" and not ON_CI, reason="the fault suite runs on CI, or with RUN_FAULTS=1"
    ),
]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or not shutil.which("redis-server"):
        pytest.fail("the fault suite needs root, PostgreSQL 15's binaries and redis-server")
    out = tmp_path_factory.mktemp("faults") / "quick.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    print(done.stdout[-6000:])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {row["scenario"]: row for row in json.loads(out.read_text())["results"]}


def test_quick_runs_every_scenario(quick_results):
    assert set(quick_results) == {"baseline", "redis_stop", "worker_kill"}


@pytest.mark.parametrize("scenario", ["baseline", "redis_stop", "worker_kill"])
def test_exactly_once_without_stalls(quick_results, scenario):
    row = quick_results[scenario]
    assert row["sent"] == row["requested"] > 0, row["notes"]  # the API took every send
    assert (row["lost"], row["twice"], row["not_final_at_deadline"]) == (0, 0, 0), row["notes"]
    assert row["once"] == row["sent"]
    assert row["failed_but_received"] == 0, row["notes"]  # no send_interrupted for a text that went out
    assert row["self_exits"] == 0, row["self_exit_details"]  # nobody had to restart a process
    assert row["api_5xx"] == 0
    if row["latest_after_fault_s"] is not None:
        assert row["latest_after_fault_s"] <= 75, row["notes"]  # about a minute after the fault clears
