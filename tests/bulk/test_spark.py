"""The Spark backend (local mode) gives exactly the embedded backend's results, and listens on loopback only."""
import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdss.bulk.spark import JOINS
from cdss.screening import screen_command

pytest.importorskip("pyspark")
AS_OF = "2026-11-01T09:00:00+00:00"


def screen(manifest, *options):
    """(records sorted by patient id, summary) of `cdss screen` on an export."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp, "summary.json")
        result = CliRunner().invoke(screen_command, [str(manifest), "--as-of", AS_OF, "--summary-json", str(summary),
                                                     *options], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        data = json.loads(summary.read_text(encoding="utf-8"))
    return sorted(map(json.loads, result.stdout.splitlines()), key=lambda item: item["patient_id"]), data


def listening_addresses(pid):
    """Local addresses of the TCP sockets a process listens on (from /proc, IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                addresses.append(fields[1].split(":")[0])
    return addresses


@pytest.fixture(scope="module")
def spark_run(java, ci_export):
    """The CI export screened by Spark in local mode, by default and with each join (one JVM for all);
    the JVM's listening sockets; then Spark stopped."""
    from pyspark.sql import SparkSession  # noqa: PLC0415

    runs = {"default": screen(ci_export, "--engine", "spark", "--master", "local[2]")}
    for join in JOINS:
        runs[join] = screen(ci_export, "--engine", "spark", "--master", "local[2]", "--spark-join", join)
    session = SparkSession.getActiveSession()
    listening = listening_addresses(session.sparkContext._gateway.proc.pid)  # noqa: SLF001 - the JVM's pid
    session.stop()
    return runs, listening


@pytest.mark.parametrize("join", ["default", *JOINS])
def test_spark_and_multiprocessing_give_identical_results(spark_run, ci_export, join):
    spark_records, spark_summary = spark_run[0][join]
    local_records, local_summary = screen(ci_export, "--workers", "2")
    assert len(local_records) > 1000
    assert spark_records == local_records
    assert spark_summary == local_summary
    # the odd lines (conftest.add_odd_lines) were read alike: the byte order mark opening a file, "\r\n",
    # a "\r" inside a line and bytes that are not UTF-8 cost no line; one in mid-file is not JSON
    assert local_summary["lines_not_used"] == {
        "ignored: Encounter": 1, "malformed: not a JSON object": 1, "malformed: not valid JSON": 2,
        "no_patient: Observation": 1, "unknown_patient: resources": 2}


def test_spark_listens_on_loopback_only(spark_run):
    _, listening = spark_run
    loopback = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
    assert listening and set(listening) <= loopback
