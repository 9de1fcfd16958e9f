//! TCP and HTTP probes from inside the container's network namespace, at
//! 127.0.0.1, as Mesos runs them: the app need not publish the port, and the
//! check sees what the app sees. Each probe runs on its own short-lived
//! thread, since `setns` moves the calling thread only and the executor's
//! async runtime must stay in the host's namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use tokio::sync::oneshot;

/// Whose network to probe from.
#[derive(Debug, Clone)]
pub enum Namespace {
    /// Host networking: the host's own loopback.
    Host,
    /// The container's network namespace, held open (`/proc/<init>/ns/net`
    /// opened once its init was confirmed, see docker::pidfd::container_netns)
    /// so no probe goes through a pid that may have been reused.
    Of(Arc<File>),
}

/// How an HTTP or TCP probe went, short enough for a status message.
pub type Answer = Result<(), String>;

/// Runs `probe` on a fresh thread inside `ns`. Returns when the thread does;
/// the socket deadlines inside bound it by `timeout`.
pub async fn run_in(
    ns: Namespace,
    timeout: Option<Duration>,
    probe: impl FnOnce(Option<Instant>) -> Answer + Send + 'static,
) -> Answer {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("health-probe".into())
        // A connect, a write and a read: no deep stack needed.
        .stack_size(256 * 1024)
        .spawn(move || {
            let answer = enter(ns).and_then(|()| probe(timeout.map(|t| Instant::now() + t)));
            let _ = tx.send(answer);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a probe thread: {e}"));
    }
    rx.await
        .unwrap_or_else(|_| Err("the probe thread ended without an answer".into()))
}

fn enter(ns: Namespace) -> Answer {
    let Namespace::Of(netns) = ns else {
        return Ok(());
    };
    setns(netns.as_ref(), CloneFlags::CLONE_NEWNET).map_err(|e| {
        format!(
            "cannot enter the container's network namespace: {e}; HTTP and TCP checks need the \
             executor to run as root"
        )
    })
}

fn loopback(ipv6: bool, port: u16) -> SocketAddr {
    let ip = if ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    SocketAddr::new(ip, port)
}

fn left(deadline: Option<Instant>) -> Result<Option<Duration>, String> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let rest = d.saturating_duration_since(Instant::now());
            if rest.is_zero() {
                Err("timed out".into())
            } else {
                Ok(Some(rest))
            }
        }
    }
}

fn connect(ipv6: bool, port: u16, deadline: Option<Instant>) -> Result<TcpStream, String> {
    let addr = loopback(ipv6, port);
    let stream = match left(deadline)? {
        Some(t) => TcpStream::connect_timeout(&addr, t),
        None => TcpStream::connect(addr),
    };
    stream.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".to_string(),
        _ => e.to_string(),
    })
}

/// Healthy when a connection is accepted.
pub fn tcp(ipv6: bool, port: u16, deadline: Option<Instant>) -> Answer {
    connect(ipv6, port, deadline).map(drop)
}

/// `GET path` over HTTP/1.1; healthy when `accepts` takes the status. No
/// redirects are followed: a 3xx is an answer (healthy by default).
pub fn http(
    ipv6: bool,
    port: u16,
    path: &str,
    deadline: Option<Instant>,
    accepts: impl Fn(u32) -> bool,
) -> Answer {
    let mut stream = connect(ipv6, port, deadline)?;
    let host = if ipv6 { "[::1]" } else { "127.0.0.1" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: mesos-docker-health/{}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        crate::VERSION
    );
    stream
        .set_write_timeout(left(deadline)?)
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| io_failure("sending the request", &e))?;
    // Only the status line matters.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        stream
            .set_read_timeout(left(deadline)?)
            .map_err(|e| io_failure("reading the response", &e))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(io_failure("reading the response", &e)),
        }
    }
    let code = status_code(&head)?;
    if accepts(code) {
        Ok(())
    } else {
        Err(code.to_string())
    }
}

fn io_failure(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".into(),
        _ => format!("{what}: {e}"),
    }
}

/// The code of an `HTTP/1.x NNN reason` status line.
pub fn status_code(head: &[u8]) -> Result<u32, String> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") && code.len() == 3 => code
            .parse()
            .map_err(|_| format!("not an HTTP status line: {:?}", line.trim_end())),
        _ if head.is_empty() => Err("the connection closed without a response".into()),
        _ => Err(format!("not an HTTP response: {:?}", line.trim_end())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn status_lines() {
        let cases: &[(&[u8], Result<u32, &str>)] = &[
            (b"HTTP/1.1 200 OK\r\n", Ok(200)),
            (b"HTTP/1.0 503 Service Unavailable\r\n\r\n", Ok(503)),
            (b"HTTP/1.1 302\r\n", Ok(302)),
            (b"", Err("the connection closed without a response")),
            (
                b"SSH-2.0-OpenSSH\r\n",
                Err("not an HTTP response: \"SSH-2.0-OpenSSH\""),
            ),
            (
                b"HTTP/1.1 2x0 OK\r\n",
                Err("not an HTTP status line: \"HTTP/1.1 2x0 OK\""),
            ),
        ];
        for (head, want) in cases {
            assert_eq!(
                status_code(head),
                want.map_err(String::from),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    /// A one-shot server on the host's loopback answering `reply`.
    fn serve_once(reply: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply);
            }
        });
        port
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn http_on_the_host_loopback() {
        let ok = |c: u32| (200..400).contains(&c);
        let port = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(http(false, port, "/", soon(), ok), Ok(()));
        let port = serve_once(b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
        assert_eq!(http(false, port, "/", soon(), ok), Err("500".into()));
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let deadline = Some(Instant::now() + Duration::from_millis(200));
        assert_eq!(
            http(false, port, "/", deadline, |_| true),
            Err("timed out".into())
        );
        drop(listener);
    }

    #[test]
    fn tcp_refused_and_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_eq!(tcp(false, port, soon()), Ok(()));
        drop(listener);
        assert_eq!(tcp(false, port, soon()), Err("connection refused".into()));
    }
}
