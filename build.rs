// Compiles proto/ with protox (a pure-Rust protobuf compiler), so building
// needs no protoc binary on the machine.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/mesos/v1/mesos.proto",
        "proto/mesos/v1/executor.proto",
        "proto/mesos_docker/raw.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new()
        .btree_map(["."])
        .compile_fds(descriptors)?;
    println!("cargo:rustc-env=MESOS_DOCKER_COMMIT={}", commit());
    Ok(())
}

/// The commit being built, for `--version`; a source tarball has none.
fn commit() -> String {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    // Appended on every commit and checkout, whichever branch is current.
    println!("cargo:rerun-if-changed=.git/logs/HEAD");
    println!("cargo:rerun-if-env-changed=MESOS_DOCKER_COMMIT");
    if let Ok(c) = std::env::var("MESOS_DOCKER_COMMIT") {
        return c;
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown commit".to_string())
}
