//! The Docker images the end-to-end tests run, built locally (no registry)
//! by scripts/build-test-images when missing.
#![allow(dead_code)]

use std::process::Command;
use std::sync::Mutex;

pub const BUSYBOX: &str = "mesos-docker-test/busybox:latest";
pub const REDIS: &str = "mesos-docker-test/redis:latest";

fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the test images unless `image` exists; panics with the script's
/// output when that fails (a test needing Docker must not pass without it).
fn ensure(image: &str) -> &str {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if image_exists(image) {
        return image;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-test-images");
    let out = Command::new(script)
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success() && image_exists(image),
        "{script} did not produce {image} ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

pub fn ensure_busybox() -> &'static str {
    ensure(BUSYBOX);
    BUSYBOX
}

pub fn ensure_redis() -> &'static str {
    ensure(REDIS);
    REDIS
}
