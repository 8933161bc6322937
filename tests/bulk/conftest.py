"""Bulk Data fixtures: generated exports (seeded), Java for Spark."""
import os
import subprocess
from pathlib import Path

import pytest

from cdss.bulk.synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
CI_PATIENTS = int(os.environ.get("CDSS_TEST_BULK_PATIENTS", "2000"))  # "a few thousand patients in CI"


@pytest.fixture(scope="session")
def small_export(tmp_path_factory):
    """A 300-patient export with its manifest (and the malformed lines real exports hold)."""
    return generate(tmp_path_factory.mktemp("bulk-small"), 300, seed=11)


@pytest.fixture(scope="session")
def ci_export(tmp_path_factory):
    """The CI-sized export both backends screen."""
    return generate(tmp_path_factory.mktemp("bulk-ci"), CI_PATIENTS, seed=2026)


@pytest.fixture(scope="session")
def java():
    """A Java runtime for Spark, installed by scripts/install-java.sh when missing."""
    done = subprocess.run(["sh", str(ROOT / "scripts" / "install-java.sh")], capture_output=True, text=True,
                          timeout=900, check=False)
    if done.returncode != 0:
        reason = f"Java is not available: {done.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI must run the Spark tests)")
        pytest.skip(reason)
