"""Bulk Data fixtures: generated exports (seeded), Java for Spark."""
import os

import pytest

from cdss.bulk.synthetic import generate
from tests.system import require

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
    require("install-java.sh", "Java 17+")
