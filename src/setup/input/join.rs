//! Before a node joins, ask the cluster whether the token fits: a master of
//! the list is asked for `/state` anonymously, and, when it refuses, with
//! the master operator credentials derived from the token. Real runs on the
//! host only; the request goes through [`System::talk`] (or
//! [`System::talk_tls`]), so test doubles answer it.
//!
//! A secured cluster whose Mesos has SSL serves only TLS. The token gives
//! the cluster CA ([`tls::cluster_ca_pem`]), so the master is asked over
//! https first, its certificate verified against that CA and the IP asked;
//! only a master that does not speak TLS at all is asked over http. One
//! whose certificate another CA signed (another cluster's, or a man in the
//! middle's) gets nothing, credentials least of all.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::setup::host::probes::request_as;
use crate::setup::host::secrets::BasicAuth;
use crate::setup::host::system::{System, TlsPeer, TlsTalkError};
use crate::setup::input::token::{ClusterToken, MasterPurpose};
use crate::setup::plan::tls;

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
    /// No token to try, and a master speaks TLS on :5050, as only secured
    /// masters do.
    SecuredTls { host: String },
    /// A master refused anonymous requests and accepted the token's
    /// credentials.
    Accepted { host: String },
    /// A master refused the token's credentials (401).
    Rejected { host: String },
    /// A master's TLS certificate is not from the token's cluster CA: the
    /// token is another cluster's, or something sits between. Nothing was
    /// sent to it.
    Foreign { host: String, why: String },
    /// No master answered with HTTP; why, per host.
    Unreachable { why: Vec<String> },
}

/// Asks the masters in turn; the first that answers with HTTP decides.
/// The credentials are derived here, in memory, and only sent on the wire.
pub fn ask(sys: &System, masters: &[String], token: Option<&ClusterToken>) -> Answer {
    ask_port(sys, masters, MASTER_PORT, token)
}

fn ask_port(sys: &System, masters: &[String], port: u16, token: Option<&ClusterToken>) -> Answer {
    let ca = match token.map(tls::cluster_ca_pem).transpose() {
        Ok(ca) => ca,
        Err(e) => {
            return Answer::Unreachable {
                why: vec![crate::error_chain(&e)],
            };
        }
    };
    let mut why = Vec::new();
    for host in masters {
        match ask_one(sys, host, port, token, ca.as_deref()) {
            Ok(answer) => return answer,
            Err(e) => why.push(format!("{host}: {e}")),
        }
    }
    Answer::Unreachable { why }
}

/// One master's answer, or why it gave none.
fn ask_one(
    sys: &System,
    host: &str,
    port: u16,
    token: Option<&ClusterToken>,
    ca: Option<&str>,
) -> Result<Answer, String> {
    let addr = socket(host, port).map_err(|e| e.to_string())?;
    let name = server_name(&addr);
    let host = host.to_owned();
    let mut peer = ca.map(|ca_pem| TlsPeer {
        ca_pem,
        server_name: &name,
    });
    let anonymous = match status(sys, &addr, peer.as_ref(), None) {
        Asked::Status(s) => s,
        Asked::Foreign(why) => return Ok(Answer::Foreign { host, why }),
        // A master without TLS (a Mesos built without SSL): plain http.
        Asked::NotTls(_) if peer.is_some() => {
            peer = None;
            match status(sys, &addr, None, None) {
                Asked::Status(s) => s,
                Asked::Foreign(e) | Asked::NotTls(e) | Asked::Failed(e) => return Err(e),
            }
        }
        Asked::NotTls(e) | Asked::Failed(e) => {
            if token.is_none() && speaks_tls(sys, &addr, &name) {
                return Ok(Answer::SecuredTls { host });
            }
            return Err(e);
        }
    };
    if anonymous != 401 {
        return Ok(Answer::Open { host });
    }
    let Some(token) = token else {
        return Ok(Answer::Secured { host });
    };
    let basic = BasicAuth {
        principal: OPERATOR.to_owned(),
        secret: token.secret(MasterPurpose::MasterHttp),
    };
    match status(sys, &addr, peer.as_ref(), Some(&basic)) {
        Asked::Status(401) => Ok(Answer::Rejected { host }),
        // Mesos authenticates before its handlers run: a redirect to the
        // leader, or "no leader elected" while an ensemble forms, comes
        // only after the credentials were accepted.
        Asked::Status(200 | 307 | 503) => Ok(Answer::Accepted { host }),
        Asked::Status(other) => Err(format!("answered HTTP {other} to the token's credentials")),
        Asked::Foreign(why) => Ok(Answer::Foreign { host, why }),
        Asked::NotTls(e) | Asked::Failed(e) => Err(e),
    }
}

/// Whether a master that gave no plain HTTP answer speaks TLS: asked with
/// a CA of a token made up here, which no master's certificate chains to,
/// a TLS server shows its certificate and the handshake stops there.
/// Nothing but the handshake is sent.
fn speaks_tls(sys: &System, addr: &str, name: &str) -> bool {
    let Some(ca_pem) = ClusterToken::generate()
        .ok()
        .and_then(|t| tls::cluster_ca_pem(&t).ok())
    else {
        return false;
    };
    let peer = TlsPeer {
        ca_pem: &ca_pem,
        server_name: name,
    };
    matches!(
        sys.talk_tls(addr, &request_as(addr, "/state", None), &peer),
        Err(TlsTalkError::NotTrusted(_)) | Ok(_)
    )
}

/// `host:port` as an address the runner can dial: an IP as it is, a name
/// resolved here (the runner takes socket addresses only).
fn socket(host: &str, port: u16) -> std::io::Result<String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port).to_string());
    }
    // getaddrinfo has no deadline of its own (a dead resolver holds it for
    // its retries): the lookup runs aside and is given up on in time; the
    // thread ends by itself when the resolver does.
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(|mut a| a.next()),
        );
    });
    match rx.recv_timeout(RESOLVE) {
        Ok(found) => found?
            .map(|a| a.to_string())
            .ok_or_else(|| std::io::Error::other("the name resolves to no address")),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the name did not resolve within {RESOLVE:?}"),
        )),
    }
}

/// How long a master's name may take to resolve.
const RESOLVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The IP dialled: what a master's certificate names (it carries the
/// node's addresses), whatever name the operator gave.
fn server_name(addr: &str) -> String {
    addr.parse::<SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| addr.to_owned())
}

/// What one request got.
enum Asked {
    /// The HTTP status.
    Status(u16),
    /// Over TLS: the certificate is not the cluster's (why).
    Foreign(String),
    /// Over TLS: the peer does not speak it.
    NotTls(String),
    Failed(String),
}

/// `GET /state`, with basic credentials when given, over TLS when `peer`
/// is given (the credentials then go out only after its certificate was
/// verified).
fn status(sys: &System, addr: &str, peer: Option<&TlsPeer>, basic: Option<&BasicAuth>) -> Asked {
    let request = request_as(addr, "/state", basic);
    let reply = match peer {
        None => sys
            .talk(addr, &request)
            .map_err(|e| Asked::Failed(e.to_string())),
        Some(peer) => sys.talk_tls(addr, &request, peer).map_err(|e| match e {
            TlsTalkError::NotTrusted(why) => Asked::Foreign(format!(
                "its TLS certificate is not from the token's cluster CA ({why})"
            )),
            TlsTalkError::NotTls(why) => Asked::NotTls(why.to_owned()),
            other => Asked::Failed(crate::error_chain(&other)),
        }),
    };
    let reply = match reply {
        Ok(r) => r,
        Err(a) => return a,
    };
    reply
        .lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .map_or_else(
            || Asked::Failed(format!("{addr} answered something that is not HTTP")),
            Asked::Status,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::system::{Output, Runner};
    use base64::Engine as _;
    use std::collections::HashMap;

    #[test]
    fn master_names_resolve_to_dialable_addresses_or_say_why_not() {
        assert_eq!(socket("10.0.0.1", 5050).unwrap(), "10.0.0.1:5050");
        assert_eq!(socket("fd00::1", 5050).unwrap(), "[fd00::1]:5050");
        let local = socket("localhost", 5050).unwrap();
        assert!(local.ends_with(":5050"), "{local}");
        // RFC 6761: never resolves, whatever the resolver.
        let e = socket("no-such-master.invalid", 5050).unwrap_err();
        assert!(!e.to_string().is_empty());
    }

    /// A network of masters: per address, the status to anonymous and to
    /// authenticated requests (`None`: nothing listens).
    struct Net {
        answers: HashMap<String, (u16, u16)>,
        /// Masters that speak only TLS: the CA of their certificate.
        tls: HashMap<String, String>,
        want: String,
        sent: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Net {
        fn reply(&self, addr: &str, send: &str) -> std::io::Result<String> {
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
    }

    impl Runner for Net {
        fn run(&self, p: &str, _: &[&str]) -> std::io::Result<Output> {
            Err(std::io::Error::other(format!("{p}: no commands here")))
        }
        /// A TLS master answers plain text with a TLS alert (not HTTP).
        fn talk(&self, addr: &str, send: &str) -> std::io::Result<String> {
            if self.tls.contains_key(addr) {
                return Ok("\u{15}\u{3}\u{3}\0\u{2}\u{2}F".into());
            }
            self.reply(addr, send)
        }
        /// What a handshake decides, before anything is sent: a plain
        /// master does not speak TLS; a TLS master's certificate verifies
        /// only against its own CA.
        fn talk_tls(&self, addr: &str, send: &str, peer: &TlsPeer) -> Result<String, TlsTalkError> {
            match self.tls.get(addr) {
                Some(ca) if ca == peer.ca_pem => Ok(self.reply(addr, send)?),
                Some(_) => Err(TlsTalkError::NotTrusted(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer,
                ))),
                None if self.answers.contains_key(addr) => {
                    Err(TlsTalkError::NotTls("it answered bytes that are not TLS"))
                }
                None => Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()),
            }
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
        net_tls(answers, &[])
    }

    /// `tls`: masters that speak only TLS, with a certificate of the CA of
    /// the token `mdt1_<byte × 32>`.
    fn net_tls(answers: &[(&str, u16, u16)], tls: &[(&str, &str)]) -> (System, Sent) {
        let tls = tls
            .iter()
            .map(|(a, b)| (format!("{a}:5050"), tls::cluster_ca_pem(&token(b)).unwrap()))
            .collect();
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
                tls,
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

    /// A TLS master is asked over https with the token's CA; one whose
    /// certificate another CA signed never receives a request (so never
    /// the credentials); without a token, a TLS master still tells that
    /// the cluster is secured.
    #[test]
    fn tls_masters_are_asked_over_https_and_foreign_ones_get_nothing() {
        let ab = token("ab");
        let m = ["10.0.0.1".to_owned()];
        let (sys, sent) = net_tls(&[("10.0.0.1", 401, 200)], &[("10.0.0.1", "ab")]);
        assert_eq!(
            ask(&sys, &m, Some(&ab)),
            Answer::Accepted {
                host: "10.0.0.1".into()
            }
        );
        assert_eq!(sent.lock().unwrap().len(), 2);
        // Another cluster's master (or a man in the middle).
        let (sys, sent) = net_tls(&[("10.0.0.1", 401, 200)], &[("10.0.0.1", "cd")]);
        let a = ask(&sys, &m, Some(&ab));
        assert!(
            matches!(&a, Answer::Foreign { host, why } if host == "10.0.0.1" && why.contains("not from the token's cluster CA")),
            "{a:?}"
        );
        assert!(sent.lock().unwrap().is_empty());
        let e = crate::setup::input::security::SecurityError::ForeignMaster {
            host: "10.0.0.1".into(),
            why: "x".into(),
        };
        assert!(e.to_string().contains("Nothing was sent to it"), "{e}");
        // Without a token: a plain answer is impossible, the handshake
        // shows a TLS master; nothing but the handshake was tried over TLS.
        let (sys, sent) = net_tls(&[("10.0.0.1", 401, 200)], &[("10.0.0.1", "ab")]);
        assert_eq!(
            ask(&sys, &m, None),
            Answer::SecuredTls {
                host: "10.0.0.1".into()
            }
        );
        assert!(
            sent.lock()
                .unwrap()
                .iter()
                .all(|s| !s.contains("Authorization")),
            "{sent:?}"
        );
        // A mixed list: the first master is plain (a Mesos without SSL).
        let (sys, _) = net_tls(&[("10.0.0.1", 401, 401)], &[]);
        assert_eq!(
            ask(&sys, &m, Some(&ab)),
            Answer::Rejected {
                host: "10.0.0.1".into()
            }
        );
    }

    /// The same against real servers on this host: rustls with the files
    /// `tls::issue` makes, and a plain HTTP server that answers a TLS hello
    /// with 400 as plain servers do.
    #[test]
    fn real_masters_over_tls_and_plain() {
        use crate::setup::host::testkit::TlsServer;
        let ab = token("ab");
        let secret = ab.secret(MasterPurpose::MasterHttp).expose().to_owned();
        let node = tls::NodeName {
            hostname: "master-1".into(),
            ips: vec!["127.0.0.1".parse().unwrap()],
        };
        let host = crate::setup::host::system::HostRunner;
        let sys = System::new("/nonexistent", Box::new(host));
        let m = ["127.0.0.1".to_owned()];
        let want = format!("operator:{secret}");
        let ours = tls::issue(&ab, &node).unwrap();
        assert_eq!(
            tls::cluster_ca_pem(&ab).unwrap(),
            ours.ca_pem,
            "the same CA"
        );
        let w = want.clone();
        let server = TlsServer::start(&ours.cert_pem, ours.key_pem.expose(), move |a| {
            if a == Some(w.as_str()) { 200 } else { 401 }
        });
        assert_eq!(
            ask_port(&sys, &m, server.port(), Some(&ab)),
            Answer::Accepted {
                host: "127.0.0.1".into()
            }
        );
        assert_eq!(*server.seen.lock().unwrap(), [None, Some(want.clone())]);
        // The attack: a master with a certificate of another token's CA.
        let theirs = tls::issue(&token("cd"), &node).unwrap();
        let foreign = TlsServer::start(&theirs.cert_pem, theirs.key_pem.expose(), |_| 200);
        let a = ask_port(&sys, &m, foreign.port(), Some(&ab));
        assert!(matches!(a, Answer::Foreign { .. }), "{a:?}");
        assert!(foreign.seen.lock().unwrap().is_empty());
        // No token: the TLS master shows the cluster is secured.
        assert_eq!(
            ask_port(&sys, &m, server.port(), None),
            Answer::SecuredTls {
                host: "127.0.0.1".into()
            }
        );
        assert_eq!(
            server.seen.lock().unwrap().len(),
            2,
            "no request reached it"
        );
        // A plain master: https first, then http.
        let (port, seen) = plain_master(want.clone());
        assert_eq!(
            ask_port(&sys, &m, port, Some(&ab)),
            Answer::Accepted {
                host: "127.0.0.1".into()
            }
        );
        assert_eq!(*seen.lock().unwrap(), [None, Some(want)]);
    }

    /// A plain HTTP master on a loopback port: 401 unless `want` is the
    /// basic credential; 400 to what is not HTTP (a TLS hello), as plain
    /// servers answer. Logs each HTTP request's credentials.
    fn plain_master(want: String) -> (u16, Sent2) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Sent2::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                let http = loop {
                    let Ok(n) = s.read(&mut buf) else { break false };
                    got.extend_from_slice(&buf[..n]);
                    if n == 0 || !got.starts_with(&b"GET "[..got.len().min(4)]) {
                        break false;
                    }
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break true;
                    }
                };
                let status = if http {
                    let text = String::from_utf8_lossy(&got).into_owned();
                    let basic = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Authorization: Basic "))
                        .map(|b| {
                            String::from_utf8(
                                base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
                            )
                            .unwrap()
                        });
                    let ok = basic.as_deref() == Some(want.as_str());
                    log.lock().unwrap().push(basic);
                    if ok { 200 } else { 401 }
                } else {
                    400
                };
                let _ = s.write_all(
                    format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                );
            }
        });
        (port, seen)
    }

    type Sent2 = std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>;
}
