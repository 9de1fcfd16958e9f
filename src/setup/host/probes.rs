//! What a Mesos master, agent or Marathon answers when it serves: HTTP/1.0
//! requests sent through [`System::talk`] (so a recording runner answers them
//! in tests), and pure judgements of the replies. Keyed by unit name, not by
//! program, since a unit may run a packaged binary, a tarball's or an image.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::setup::host::system::System;

/// What a reply must hold to count as healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Status 200, whatever the body (Mesos' `/health`).
    Ok,
    /// Status 200 and a JSON object (Mesos' `/state`).
    State,
    /// Status 200 and this body, give or take white space (Marathon's `/ping`).
    Body(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCheck {
    pub port: u16,
    pub path: &'static str,
    pub expect: Expect,
}

const fn http(port: u16, path: &'static str, expect: Expect) -> HttpCheck {
    HttpCheck { port, path, expect }
}

/// The checks of a unit (`mesos-master.service` or `mesos-master`); none for
/// units without an HTTP endpoint.
pub fn checks_of(unit: &str) -> &'static [HttpCheck] {
    const MASTER: &[HttpCheck] = &[
        http(5050, "/health", Expect::Ok),
        http(5050, "/state", Expect::State),
    ];
    const AGENT: &[HttpCheck] = &[http(5051, "/state", Expect::State)];
    const MARATHON: &[HttpCheck] = &[http(8080, "/ping", Expect::Body("pong"))];
    match unit.strip_suffix(".service").unwrap_or(unit) {
        "mesos-master" => MASTER,
        "mesos-agent" => AGENT,
        "marathon" => MARATHON,
        _ => &[],
    }
}

/// Where the daemons are asked: the address they advertise (`--ip`), else
/// the loopback address (they listen on every address then).
pub fn address(ip: Option<IpAddr>, port: u16) -> String {
    SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), port).to_string()
}

/// The request as sent: HTTP/1.0, so the server closes when done and the
/// reply is everything read until then.
pub fn request(addr: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\n\r\n")
}

/// The verdict on one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serving; a few words on what it said.
    Healthy(String),
    /// Serving, but something outside this host must happen first (a Mesos
    /// master with no leader elected: the other masters are not up yet).
    Waiting(String),
    /// Serving and finding no leader (`503 "No leader elected"`), as every
    /// master does until an election ends: worth a while before it is
    /// taken for [`Verdict::Waiting`].
    Electing(String),
    /// Not serving (yet), and why.
    Unhealthy(String),
}

/// The leader a redirect names: a real non-leading Mesos master answers
/// its endpoints with `307 Temporary Redirect` and a protocol-relative
/// `Location: //HOST:PORT/PATH` (apache/mesos src/master/http.cpp,
/// `Master::Http::redirect`; docs/endpoints/master/redirect.md).
fn redirect_target(reply: &str) -> Option<String> {
    let head = reply.split("\r\n\r\n").next().unwrap_or(reply);
    let location = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("location").then(|| v.trim())
    })?;
    let rest = location
        .strip_prefix("//")
        .or_else(|| location.strip_prefix("http://"))
        .or_else(|| location.strip_prefix("https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    (!host.is_empty()).then(|| host.to_owned())
}

/// Splits an HTTP reply into status and body.
fn parse(reply: &str) -> Result<(u16, &str), String> {
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .or_else(|| reply.split_once("\n\n"))
        .unwrap_or((reply, ""));
    let status = head
        .lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            format!(
                "answered something that is not HTTP: {:?}",
                reply.chars().take(60).collect::<String>()
            )
        })?;
    Ok((status, body))
}

/// Judges a reply to `check`.
pub fn judge(check: &HttpCheck, reply: &str) -> Verdict {
    let (status, body) = match parse(reply) {
        Ok(p) => p,
        Err(why) => return Verdict::Unhealthy(why),
    };
    // A master that is not the leader sends everything but /health to the
    // one that is: it serves, following an elected leader.
    if check.expect == Expect::State && check.port == 5050 {
        if status == 307 {
            return match redirect_target(reply) {
                Some(leader) => Verdict::Healthy(format!("following {leader}")),
                None => Verdict::Unhealthy("answered HTTP 307 with no Location".into()),
            };
        }
        // "No leader elected": it serves, but no master leads yet.
        if status == 503 && body.contains("No leader elected") {
            return Verdict::Electing(
                "no leading master elected yet (HTTP 503 \"No leader elected\"): run setup on the other masters"
                    .into(),
            );
        }
    }
    if status != 200 {
        return Verdict::Unhealthy(format!("answered HTTP {status}"));
    }
    match check.expect {
        Expect::Ok => Verdict::Healthy("200".into()),
        Expect::Body(want) if body.trim() == want => Verdict::Healthy(want.into()),
        Expect::Body(want) => Verdict::Unhealthy(format!(
            "answered {:?} instead of {want:?}",
            body.trim().chars().take(60).collect::<String>()
        )),
        Expect::State => {
            let state: serde_json::Value = match serde_json::from_str(body) {
                Ok(v @ serde_json::Value::Object(_)) => v,
                _ => {
                    return Verdict::Unhealthy(format!(
                        "answered a body that is not a JSON object: {:?}",
                        body.trim().chars().take(60).collect::<String>()
                    ));
                }
            };
            let version = state["version"].as_str().unwrap_or("unknown");
            // An agent names its master; a master its leader, when one is
            // elected (a master that lacks quorum serves without one).
            if check.port == 5050 {
                match state["leader"].as_str() {
                    Some(leader) if state["pid"].as_str() == Some(leader) => {
                        Verdict::Healthy(format!("version {version}, leading ({leader})"))
                    }
                    Some(leader) => Verdict::Healthy(format!("version {version}, leader {leader}")),
                    None => Verdict::Waiting(format!(
                        "version {version}, no leading master elected yet: run setup on the other masters"
                    )),
                }
            } else {
                match state["master_hostname"].as_str() {
                    Some(m) => Verdict::Healthy(format!("version {version}, master {m}")),
                    None => Verdict::Healthy(format!("version {version}, no master yet")),
                }
            }
        }
    }
}

/// Asks one endpoint.
pub fn ask(sys: &System, ip: Option<IpAddr>, check: &HttpCheck) -> Verdict {
    let addr = address(ip, check.port);
    match sys.talk(&addr, &request(&addr, check.path)) {
        Ok(reply) => match judge(check, &reply) {
            Verdict::Healthy(d) => Verdict::Healthy(format!("GET {}: {d}", check.path)),
            Verdict::Waiting(d) => Verdict::Waiting(format!("GET {}: {d}", check.path)),
            Verdict::Electing(d) => Verdict::Electing(format!("GET {}: {d}", check.path)),
            Verdict::Unhealthy(d) => {
                Verdict::Unhealthy(format!("GET http://{addr}{} {d}", check.path))
            }
        },
        Err(e) => Verdict::Unhealthy(format!("GET http://{addr}{}: {e}", check.path)),
    }
}

/// Asks every endpoint of a unit, in order; the first that is not healthy
/// decides, else the details joined.
pub fn ask_all(sys: &System, ip: Option<IpAddr>, unit: &str) -> Option<Verdict> {
    let checks = checks_of(unit);
    if checks.is_empty() {
        return None;
    }
    let mut said = Vec::new();
    for c in checks {
        match ask(sys, ip, c) {
            Verdict::Healthy(d) => said.push(d),
            other => return Some(other),
        }
    }
    Some(Verdict::Healthy(said.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: &str, body: &str) -> String {
        format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n\r\n{body}")
    }

    #[test]
    fn replies_judged() {
        let [health, state] = checks_of("mesos-master.service") else {
            panic!()
        };
        let ping = &checks_of("marathon")[0];
        let agent = &checks_of("mesos-agent.service")[0];
        let cases: Vec<(&HttpCheck, String, Verdict)> =
            vec![
            (health, reply("200 OK", ""), Verdict::Healthy("200".into())),
            (
                health,
                reply("503 Service Unavailable", ""),
                Verdict::Unhealthy("answered HTTP 503".into()),
            ),
            (
                state,
                reply("200 OK", r#"{"version":"1.11.0","leader":"master@10.0.0.1:5050"}"#),
                Verdict::Healthy("version 1.11.0, leader master@10.0.0.1:5050".into()),
            ),
            (
                state,
                reply(
                    "200 OK",
                    r#"{"version":"1.11.0","pid":"master@10.0.0.1:5050","leader":"master@10.0.0.1:5050"}"#,
                ),
                Verdict::Healthy("version 1.11.0, leading (master@10.0.0.1:5050)".into()),
            ),
            (
                state,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: //m1:5050/master/state\r\nContent-Length: 0\r\n\r\n".into(),
                Verdict::Healthy("following m1:5050".into()),
            ),
            (
                state,
                reply("307 Temporary Redirect", ""),
                Verdict::Unhealthy("answered HTTP 307 with no Location".into()),
            ),
            (
                state,
                reply("503 Service Unavailable", "No leader elected"),
                Verdict::Electing(
                    "no leading master elected yet (HTTP 503 \"No leader elected\"): run setup on the other masters"
                        .into(),
                ),
            ),
            (
                agent,
                reply("307 Temporary Redirect", ""),
                Verdict::Unhealthy("answered HTTP 307".into()),
            ),
            (
                state,
                reply("200 OK", r#"{"version":"1.11.0"}"#),
                Verdict::Waiting(
                    "version 1.11.0, no leading master elected yet: run setup on the other masters"
                        .into(),
                ),
            ),
            (
                agent,
                reply("200 OK", r#"{"version":"1.11.0","master_hostname":"m1"}"#),
                Verdict::Healthy("version 1.11.0, master m1".into()),
            ),
            (
                agent,
                reply("200 OK", "<html>"),
                Verdict::Unhealthy("answered a body that is not a JSON object: \"<html>\"".into()),
            ),
            (ping, reply("200 OK", "pong\n"), Verdict::Healthy("pong".into())),
            (
                ping,
                reply("200 OK", "pang"),
                Verdict::Unhealthy("answered \"pang\" instead of \"pong\"".into()),
            ),
            (
                ping,
                "SSH-2.0-OpenSSH\r\n".into(),
                Verdict::Unhealthy(
                    "answered something that is not HTTP: \"SSH-2.0-OpenSSH\\r\\n\"".into(),
                ),
            ),
        ];
        for (check, r, want) in cases {
            assert_eq!(judge(check, &r), want, "{check:?} {r:?}");
        }
        assert!(checks_of("zookeeper.service").is_empty());
    }

    /// The host runner over a real socket: what the request looks like on
    /// the wire, and the whole reply read until the server closes.
    #[test]
    fn a_real_server_is_asked_over_tcp() {
        use crate::setup::host::system::{HostRunner, Runner};
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\npong\n")
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let reply = HostRunner.talk(&addr, &request(&addr, "/ping")).unwrap();
        assert_eq!(
            server.join().unwrap(),
            format!("GET /ping HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\n\r\n")
        );
        assert_eq!(
            judge(&checks_of("marathon")[0], &reply),
            Verdict::Healthy("pong".into())
        );
    }

    #[test]
    fn addresses_and_requests() {
        assert_eq!(address(None, 5050), "127.0.0.1:5050");
        assert_eq!(
            address(Some("10.0.0.2".parse().unwrap()), 5051),
            "10.0.0.2:5051"
        );
        assert_eq!(
            address(Some("fd00::1".parse().unwrap()), 8080),
            "[fd00::1]:8080"
        );
        assert_eq!(
            request("127.0.0.1:8080", "/ping"),
            "GET /ping HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n"
        );
    }
}
