//! A process's memory as the kernel counts it, for the benchmarks: RSS counts
//! shared pages (the binary, libc) in full for every process, PSS divides
//! them among the processes sharing them, so PSS sums to the real cost.
#![allow(dead_code)]

fn field_kib(path: &str, name: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    field_kib(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// Proportional set size in KiB.
pub fn pss_kib(pid: u32) -> Option<u64> {
    field_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}
