//! The locally built test images work (real Docker).
use crate::support;

use std::process::Command;
use support::images;

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn busybox_image_runs_a_command() {
    let image = images::ensure_busybox();
    assert_eq!(docker(&["run", "--rm", image, "echo", "hi"]), "hi");
}

#[test]
fn redis_image_answers_set_and_get_on_a_published_port() {
    let image = images::ensure_redis();
    let id = docker(&["run", "-d", "--rm", "-p", "127.0.0.1::6379", image]);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
        }
    }
    let _cleanup = Remove(id.clone());
    let port = docker(&["port", &id, "6379"]);
    let addr = port
        .lines()
        .next()
        .expect("a published port")
        .parse()
        .expect("ip:port");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reply = loop {
        match images::redis_set_get(addr, "7") {
            Ok(r) => break r,
            Err(e) if std::time::Instant::now() > deadline => panic!("redis never answered: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    assert_eq!(reply, "7");
}
