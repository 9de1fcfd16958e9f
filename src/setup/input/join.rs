//! Before a node joins, ask the cluster whether the token fits: a master of
//! the list is asked for `/state` anonymously, and, when it refuses, with
//! the master operator credentials derived from the token. Real runs on the
//! host only; the request goes through [`System::talk`], so the recording
//! runner answers it in tests.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::setup::host::probes::request_as;
use crate::setup::host::secrets::BasicAuth;
use crate::setup::host::system::System;
use crate::setup::input::token::{ClusterToken, MasterPurpose};

const MASTER_PORT: u16 = 5050;
/// The principal of the masters' HTTP API (ISSUE12 layout).
const OPERATOR: &str = "operator";

/// What the cluster said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A master served an anonymous request: the cluster is still open.
    Open { host: String },
    /// A master refused an anonymous request (401) and no token was there
    /// to try.
    Secured { host: String },
    /// A master refused anonymous requests and accepted the token's
    /// credentials.
    Accepted { host: String },
    /// A master refused the token's credentials (401).
    Rejected { host: String },
    /// No master answered with HTTP; why, per host.
    Unreachable { why: Vec<String> },
}

/// Asks the masters in turn; the first that answers with HTTP decides.
/// The credentials are derived here, in memory, and only sent on the wire.
pub fn ask(sys: &System, masters: &[String], token: Option<&ClusterToken>) -> Answer {
    let mut why = Vec::new();
    for host in masters {
        let addr = match socket(host) {
            Ok(a) => a,
            Err(e) => {
                why.push(format!("{host}: {e}"));
                continue;
            }
        };
        let anonymous = match status(sys, &addr, None) {
            Ok(s) => s,
            Err(e) => {
                why.push(format!("{host}: {e}"));
                continue;
            }
        };
        if anonymous != 401 {
            return Answer::Open { host: host.clone() };
        }
        let Some(token) = token else {
            return Answer::Secured { host: host.clone() };
        };
        let basic = BasicAuth {
            principal: OPERATOR.to_owned(),
            secret: token.secret(MasterPurpose::MasterHttp),
        };
        match status(sys, &addr, Some(&basic)) {
            Ok(401) => return Answer::Rejected { host: host.clone() },
            // Mesos authenticates before its handlers run: a redirect to
            // the leader, or "no leader elected" while an ensemble forms,
            // comes only after the credentials were accepted.
            Ok(200 | 307 | 503) => return Answer::Accepted { host: host.clone() },
            Ok(other) => why.push(format!(
                "{host}: answered HTTP {other} to the token's credentials"
            )),
            Err(e) => why.push(format!("{host}: {e}")),
        }
    }
    Answer::Unreachable { why }
}

/// `host:5050` as an address the runner can dial: an IP as it is, a name
/// resolved here (the runner takes socket addresses only).
fn socket(host: &str) -> std::io::Result<String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, MASTER_PORT).to_string());
    }
    (host, MASTER_PORT)
        .to_socket_addrs()?
        .next()
        .map(|a| a.to_string())
        .ok_or_else(|| std::io::Error::other("the name resolves to no address"))
}

/// The HTTP status of `GET /state`, with basic credentials when given.
fn status(sys: &System, addr: &str, basic: Option<&BasicAuth>) -> Result<u16, String> {
    let request = request_as(addr, "/state", basic);
    let reply = sys.talk(addr, &request).map_err(|e| e.to_string())?;
    reply
        .lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr} answered something that is not HTTP"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::system::{Output, Runner};
    use base64::Engine as _;
    use std::collections::HashMap;

    /// A network of masters: per address, the status to anonymous and to
    /// authenticated requests (`None`: nothing listens).
    struct Net {
        answers: HashMap<String, (u16, u16)>,
        want: String,
        sent: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Runner for Net {
        fn run(&self, p: &str, _: &[&str]) -> std::io::Result<Output> {
            Err(std::io::Error::other(format!("{p}: no commands here")))
        }
        fn talk(&self, addr: &str, send: &str) -> std::io::Result<String> {
            self.sent.lock().unwrap().push(send.to_owned());
            let (anon, authed) = self
                .answers
                .get(addr)
                .ok_or(std::io::ErrorKind::ConnectionRefused)?;
            let status = match send.lines().find_map(|l| l.strip_prefix("Authorization: ")) {
                None => *anon,
                Some(a) if a == self.want => *authed,
                Some(_) => 401,
            };
            Ok(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n"))
        }
        fn is_host(&self) -> bool {
            false
        }
    }

    fn token(b: &str) -> ClusterToken {
        ClusterToken::parse(&format!("mdt1_{}", b.repeat(32)), "test").unwrap()
    }

    type Sent = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    fn net(answers: &[(&str, u16, u16)]) -> System {
        net_sent(answers).0
    }

    fn net_sent(answers: &[(&str, u16, u16)]) -> (System, Sent) {
        let t = token("ab");
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "operator:{}",
                t.secret(MasterPurpose::MasterHttp).expose()
            ))
        );
        let answers = answers
            .iter()
            .map(|(a, x, y)| (format!("{a}:5050"), (*x, *y)))
            .collect();
        let sent = Sent::default();
        let sys = System::live_for_tests(
            "/nonexistent",
            Box::new(Net {
                answers,
                want,
                sent: sent.clone(),
            }),
        );
        (sys, sent)
    }

    #[test]
    fn the_first_master_that_answers_decides() {
        let ab = token("ab");
        let cd = token("cd");
        let masters = ["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
        let host = |h: &str| h.to_owned();
        type Case<'a> = (Vec<(&'a str, u16, u16)>, Option<&'a ClusterToken>, Answer);
        let cases: Vec<Case> = vec![
            (
                vec![("10.0.0.1", 401, 200)],
                Some(&ab),
                Answer::Accepted {
                    host: host("10.0.0.1"),
                },
            ),
            // A master that follows the leader redirects once past the
            // authentication.
            (
                vec![("10.0.0.2", 401, 307)],
                Some(&ab),
                Answer::Accepted {
                    host: host("10.0.0.2"),
                },
            ),
            (
                vec![("10.0.0.1", 401, 200)],
                Some(&cd),
                Answer::Rejected {
                    host: host("10.0.0.1"),
                },
            ),
            (
                vec![("10.0.0.1", 200, 200)],
                Some(&ab),
                Answer::Open {
                    host: host("10.0.0.1"),
                },
            ),
            (
                vec![("10.0.0.2", 401, 200)],
                None,
                Answer::Secured {
                    host: host("10.0.0.2"),
                },
            ),
            (
                vec![("10.0.0.2", 503, 503)],
                None,
                Answer::Open {
                    host: host("10.0.0.2"),
                },
            ),
        ];
        for (answers, t, want) in cases {
            assert_eq!(ask(&net(&answers), &masters, t), want, "{answers:?}");
        }
        let Answer::Unreachable { why } = ask(&net(&[]), &masters, Some(&ab)) else {
            panic!()
        };
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].starts_with("10.0.0.1: "), "{why:?}");
    }

    #[test]
    fn anonymous_first_then_the_derived_credentials() {
        let (sys, sent) = net_sent(&[("10.0.0.1", 401, 200)]);
        let t = token("ab");
        ask(&sys, &["10.0.0.1".to_owned()], Some(&t));
        let sent = sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(!sent[0].contains("Authorization"), "{}", sent[0]);
        assert!(sent[1].starts_with("GET /state HTTP/1.0\r\nHost: 10.0.0.1:5050\r\n"));
        // The master HTTP secret, never the token itself.
        let wire = sent.join("");
        assert!(!wire.contains(&"ab".repeat(32)));
        let b64 = sent[1]
            .lines()
            .find_map(|l| l.strip_prefix("Authorization: Basic "))
            .unwrap();
        let plain = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            format!("operator:{}", t.secret(MasterPurpose::MasterHttp).expose())
        );
        // An open master is asked once, with no credentials at all.
        let (sys, sent) = net_sent(&[("10.0.0.1", 200, 200)]);
        ask(&sys, &["10.0.0.1".to_owned()], Some(&t));
        assert_eq!(sent.lock().unwrap().len(), 1);
    }
}
