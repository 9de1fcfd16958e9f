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

/// Talks RESP to a redis at `addr`: `SET x <value>` then `GET x`, returning
/// what GET answered. For the 2013 demo (`cmd='<redis image>'`).
pub fn redis_set_get(addr: std::net::SocketAddr, value: &str) -> std::io::Result<String> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let mut writer = stream.try_clone()?;
    write!(
        writer,
        "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n${}\r\n{value}\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n",
        value.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut next = |line: &mut String| -> std::io::Result<String> {
        line.clear();
        reader.read_line(line)?;
        Ok(line.trim_end().to_string())
    };
    let set = next(&mut line)?;
    if set != "+OK" {
        return Err(std::io::Error::other(format!("SET answered {set:?}")));
    }
    let header = next(&mut line)?;
    if !header.starts_with('$') {
        return Err(std::io::Error::other(format!("GET answered {header:?}")));
    }
    next(&mut line)
}

/// Ids of the containers (running or not) labelled with this task.
pub fn containers_of(task_id: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=mesos-docker.task-id={task_id}"),
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Runs the docker CLI; panics with its error output when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
