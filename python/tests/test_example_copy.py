"""What README promises a new user: copy examples/custom_daemon out of the repository, point it at
shmcall, add a function, build, and call it from Python.

The copy builds in a directory of its own, outside this workspace, with the repository's lock file
and target directory (so shmcall itself is not compiled again) and without the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import shmcall

from conftest import REPO

NEW_FUNCTION = '''
shmcall::export! {
    /// The distance between two points.
    pub fn distance(a: geometry::Point, b: geometry::Point) -> f64 {
        ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
    }
}
'''


def test_a_copy_of_the_example_with_a_new_function_builds_and_serves_it(tmp_path):
    copy = tmp_path / "my_daemon"
    shutil.copytree(REPO / "examples" / "custom_daemon", copy, ignore=shutil.ignore_patterns("target"))
    shutil.copy(REPO / "Cargo.lock", copy / "Cargo.lock")
    manifest = copy / "Cargo.toml"
    text = manifest.read_text()
    # The steps README gives: rename the package, point the dependency at shmcall.
    text = text.replace('name = "custom_daemon"', 'name = "my_daemon"')
    text, pointed = re.subn(r'shmcall = \{ path = "[^"]*"', f'shmcall = {{ path = "{REPO}"', text)
    assert pointed == 1, "the example's Cargo.toml no longer has a path dependency on shmcall"
    manifest.write_text(text)
    (copy / "src" / "extra.rs").write_text("use crate::geometry;\n" + NEW_FUNCTION)
    main = copy / "src" / "main.rs"
    source = main.read_text()
    source = source.replace("mod geometry;", "mod extra;\nmod geometry;")
    source = source.replace(".register(geometry::register)", ".register(geometry::register)\n        .register(extra::register)")
    assert "extra::register" in source, "the example's main no longer registers modules as README shows"
    main.write_text(source)

    # The repository's release profile (a copy outside the workspace has cargo's defaults), so that the
    # shmcall library the workspace build left in target/ is reused, not compiled again.
    env = dict(os.environ, CARGO_TARGET_DIR=str(REPO / "target"), CARGO_PROFILE_RELEASE_DEBUG="1",
               CARGO_PROFILE_RELEASE_CODEGEN_UNITS="4")
    subprocess.run(["cargo", "build", "--release", "--offline", "--quiet"], cwd=copy, env=env, check=True, timeout=600)
    binary = REPO / "target" / "release" / "my_daemon"
    try:
        with shmcall.connect(str(tmp_path / "my.sock"), daemon=str(binary)) as c:
            assert c.daemon.name == "my_daemon"
            P = c.types.Point
            assert c.distance(P(0.0, 0.0), P(3.0, 4.0)) == 5.0
            assert "The distance between two points." in (c.distance.__doc__ or "")
            assert c.primes_below(10).tolist() == [2, 3, 5, 7]  # the example's own functions still there
    finally:
        binary.unlink(missing_ok=True)
