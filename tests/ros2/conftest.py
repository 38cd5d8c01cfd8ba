"""ROS 2 fixtures: a private ROS domain per test (localhost discovery only), the reference package."""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("rclpy")

_ids = itertools.count()


@pytest.fixture(autouse=True)
def _localhost_only(monkeypatch):
    """Discovery stays on this machine, so parallel tests and other users never cross-talk."""
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")


@pytest.fixture
def domain() -> int:
    """A ROS domain id of this test alone (from the process id and a counter; 1-200)."""
    return 1 + (os.getpid() * 37 + next(_ids)) % 200


@pytest.fixture(scope="session")
def pick_package(tmp_path_factory):
    """The scripted pick-place reference controller (tabletop/pick-place, ee_delta, 20 Hz) as a package."""
    from physai.deploy import signing
    from physai.deploy.package import ExportConfig, export_package
    from physai.deploy.reference import contract, make_controller

    keys = signing.generate_keys(tmp_path_factory.mktemp("keys"))
    out = tmp_path_factory.mktemp("pp") / "pkg"
    export_package(make_controller(), contract(), out, sign_key=keys[0], config=ExportConfig(batched=False))
    return out, keys
