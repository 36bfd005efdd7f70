"""The cluster tests' Spark standalone cluster (:mod:`tests.cluster.standalone`), one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.standalone import SparkCluster, start_spark_cluster


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    with start_spark_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster
