//! What a Mesos master, agent or Marathon answers when it serves: HTTP/1.0
//! requests sent through [`System::talk`] (so a recording runner answers them
//! in tests), and pure judgements of the replies. Keyed by unit name, not by
//! program, since a unit may run a packaged binary, a tarball's or an image.
//!
//! On a secured node the endpoints want the operator's basic-auth
//! credentials, read from the secret files ([`secrets`]) and sent in the
//! request itself: never through a command line, where `ps` would show them.
//! [`verify`] proves an endpoint's protection: anonymous refused, the
//! credentials accepted, a wrong secret refused.
//!
//! Where [`TLS_ENV`] turns libprocess' SSL on, the Mesos master and agent
//! speak only TLS: they are asked over https, trusting only the cluster CA
//! ([`CA_CERT`]) and checking the certificate names the IP asked ([`Wire`],
//! the one decision). Marathon's API is its own HTTP server: plain http.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use base64::Engine;

use crate::setup::host::secrets::{self, BasicAuth, SecretReadError, Service};
use crate::setup::host::system::{System, TlsPeer, TlsTalkError, trust_anchors};
use crate::setup::input::token::{SECRETS_DIR, Secret};
use crate::setup::plan::tls::{CA_CERT, TLS_ENV, Transport, transport_of};

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
    /// Whether a secured node wants credentials here. Mesos' `/health` is
    /// served to anyone even with `--authenticate_http_readonly` ("This
    /// endpoint does not require authentication": apache/mesos
    /// docs/endpoints/master/health.md), so no secret is sent there.
    pub authenticated: bool,
    /// Served by libprocess (a Mesos master or agent): over TLS where the
    /// node turns it on (see [`Wire`]).
    pub libprocess: bool,
}

const fn http(port: u16, path: &'static str, expect: Expect) -> HttpCheck {
    HttpCheck {
        port,
        path,
        expect,
        authenticated: true,
        libprocess: true,
    }
}

/// The checks of a unit (`mesos-master.service` or `mesos-master`); none for
/// units without an HTTP endpoint.
pub fn checks_of(unit: &str) -> &'static [HttpCheck] {
    const MASTER: &[HttpCheck] = &[
        HttpCheck {
            authenticated: false,
            ..http(5050, "/health", Expect::Ok)
        },
        http(5050, "/state", Expect::State),
    ];
    const AGENT: &[HttpCheck] = &[http(5051, "/state", Expect::State)];
    const MARATHON: &[HttpCheck] = &[HttpCheck {
        libprocess: false,
        ..http(8080, "/ping", Expect::Body("pong"))
    }];
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

/// The address the daemons advertise (MESOS_IP in setup's environment
/// files), where their health is asked.
pub fn advertised_ip(sys: &System) -> Option<IpAddr> {
    [
        "/etc/mesos-docker/master.env",
        "/etc/mesos-docker/agent.env",
    ]
    .iter()
    .filter_map(|p| sys.read(p).ok())
    .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
    .find_map(|l| {
        l.strip_prefix("MESOS_IP=")
            .and_then(|v| v.trim_matches('"').parse().ok())
    })
}

/// How an endpoint of this node is reached: the one decision every probe,
/// `status` and `credentials` follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    Plain,
    /// TLS, trusting only this CA (PEM, as read from [`CA_CERT`]).
    Tls {
        ca_pem: String,
    },
    /// TLS is on, but the CA cannot be used: what is wrong and what to do.
    /// Never a reason to fall back to plain http.
    Broken(String),
}

/// Why [`TLS_ENV`] could not be read (it exists, 0644, where TLS is on).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {TLS_ENV}, which says whether this node's Mesos speaks TLS")]
pub struct TlsEnvError(#[source] pub std::io::Error);

/// Whether this node's Mesos master and agent speak TLS: [`TLS_ENV`]
/// exists and turns `LIBPROCESS_SSL_ENABLED` on.
pub fn mesos_tls_on(sys: &System) -> Result<bool, TlsEnvError> {
    match sys.read(TLS_ENV) {
        Ok(text) => Ok(transport_of(&text) == Transport::Encrypted),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(TlsEnvError(e)),
    }
}

impl Wire {
    /// For an endpoint of this node: libprocess ones (Mesos) follow
    /// [`TLS_ENV`]; others (Marathon) are plain http.
    pub fn of(sys: &System, libprocess: bool) -> Wire {
        if !libprocess {
            return Wire::Plain;
        }
        Wire::decide(mesos_tls_on(sys), || sys.read(CA_CERT))
    }

    /// The decision from what was read: whether TLS is on, and the CA file.
    pub fn decide(
        tls_on: Result<bool, TlsEnvError>,
        ca: impl FnOnce() -> std::io::Result<String>,
    ) -> Wire {
        match tls_on {
            Ok(false) => return Wire::Plain,
            Ok(true) => {}
            Err(e) => return Wire::Broken(crate::error_chain(&e)),
        }
        let again = "run mesos-docker setup again to write it";
        match ca() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Wire::Broken(format!(
                "TLS is on ({TLS_ENV}) but the cluster CA {CA_CERT} is missing: {again}"
            )),
            Err(e) => Wire::Broken(format!(
                "TLS is on ({TLS_ENV}) but the cluster CA {CA_CERT} cannot be read ({e}): fix its permissions (0644) or {again}"
            )),
            Ok(pem) => match trust_anchors(&pem) {
                Ok(_) => Wire::Tls { ca_pem: pem },
                Err(e) => Wire::Broken(format!(
                    "TLS is on ({TLS_ENV}) but {CA_CERT} is not a usable CA certificate ({e}): {again}"
                )),
            },
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Wire::Plain => "http",
            Wire::Tls { .. } | Wire::Broken(_) => "https",
        }
    }
}

/// Why an exchange failed: nothing answered, or something answered that
/// must not be trusted (a verdict of its own, never retried in plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Unreachable(String),
    Broken(String),
}

/// Sends `send` to `addr` over `wire`; over TLS the server name is the IP
/// asked, which the node's certificate carries.
pub fn exchange(sys: &System, wire: &Wire, addr: &str, send: &str) -> Result<String, Failure> {
    let ca_pem = match wire {
        Wire::Plain => {
            return sys
                .talk(addr, send)
                .map_err(|e| Failure::Unreachable(e.to_string()));
        }
        Wire::Broken(why) => return Err(Failure::Broken(why.clone())),
        Wire::Tls { ca_pem } => ca_pem,
    };
    let server_name = server_name(addr);
    let peer = TlsPeer {
        ca_pem,
        server_name: &server_name,
    };
    sys.talk_tls(addr, send, &peer).map_err(|e| match e {
        TlsTalkError::Io(e) => Failure::Unreachable(e.to_string()),
        TlsTalkError::NotTrusted(why) => Failure::Broken(untrusted(&why, &server_name)),
        TlsTalkError::NotTls(why) => Failure::Broken(format!(
            "it does not speak TLS ({why}), though {TLS_ENV} turns TLS on: restart it so it reads {TLS_ENV}, or run mesos-docker setup again"
        )),
        TlsTalkError::BadCa { .. } => Failure::Broken(format!(
            "{CA_CERT}: {}: run mesos-docker setup again to write it",
            crate::error_chain(&e)
        )),
        other => Failure::Broken(crate::error_chain(&other)),
    })
}

/// What a certificate that failed verification means, for a verdict.
fn untrusted(why: &rustls::Error, server_name: &str) -> String {
    use rustls::CertificateError as C;
    match why {
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => format!(
            "its TLS certificate does not name {server_name} ({why}): another node's, or a man in the middle; no credentials were sent. If this node's addresses changed, run mesos-docker setup again to reissue its certificate"
        ),
        _ => format!(
            "its TLS certificate is not the cluster's ({why}; trusted: {CA_CERT} only): another cluster's node, or a man in the middle; no credentials were sent"
        ),
    }
}

/// The IP of `ip:port` (`[v6]:port`), the name a node's certificate holds.
fn server_name(addr: &str) -> String {
    addr.parse::<SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned())
}

/// The request as sent: HTTP/1.0, so the server closes when done and the
/// reply is everything read until then.
pub fn request(addr: &str, path: &str) -> String {
    request_as(addr, path, None)
}

/// The request with basic authentication when `auth` is given.
pub fn request_as(addr: &str, path: &str, auth: Option<&BasicAuth>) -> String {
    let authorization = auth
        .map(|a| {
            let pair = format!("{}:{}", a.principal, a.secret.expose());
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
        .unwrap_or_default();
    format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{authorization}Accept: */*\r\n\r\n")
}

/// What a probe can authenticate with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials on this node (an insecure one): ask anonymously.
    Anonymous,
    Basic(BasicAuth),
    /// The secret files exist but only root may read them.
    NotRoot,
    /// The node is secured but its credentials cannot be used, and why.
    Unusable(String),
}

impl Auth {
    /// The operator's credentials for a unit's HTTP API, read from its
    /// secret file.
    pub fn for_unit(sys: &System, unit: &str) -> Auth {
        let Some(service) = Service::of_unit(unit) else {
            return Auth::Anonymous;
        };
        match secrets::http_credential(sys, service) {
            Ok(b) => Auth::Basic(b),
            Err(SecretReadError::Missing { .. }) => Auth::Anonymous,
            Err(SecretReadError::NotRoot { .. }) => Auth::NotRoot,
            Err(e) => Auth::Unusable(crate::error_chain(&e)),
        }
    }

    fn basic(&self) -> Option<&BasicAuth> {
        match self {
            Auth::Basic(b) => Some(b),
            _ => None,
        }
    }
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

/// Asks one endpoint, with credentials where it wants them.
pub fn ask(sys: &System, ip: Option<IpAddr>, check: &HttpCheck, auth: &Auth) -> Verdict {
    let addr = address(ip, check.port);
    let wire = Wire::of(sys, check.libprocess);
    let url = format!("{}://{addr}{}", wire.scheme(), check.path);
    let sent = check.authenticated.then(|| auth.basic()).flatten();
    match exchange(sys, &wire, &addr, &request_as(&addr, check.path, sent)) {
        Ok(reply) if check.authenticated && parse(&reply).is_ok_and(|(s, _)| s == 401) => {
            match auth {
                Auth::NotRoot => Verdict::Waiting(format!(
                    "GET {}: refuses anonymous requests (HTTP 401); its credentials are readable only by root: run as root to verify it serves",
                    check.path
                )),
                Auth::Unusable(why) => {
                    Verdict::Unhealthy(format!("GET {url} answered HTTP 401: {why}"))
                }
                Auth::Anonymous => Verdict::Unhealthy(format!(
                    "GET {url} answered HTTP 401: it wants credentials and this node has none in {SECRETS_DIR}"
                )),
                Auth::Basic(b) => Verdict::Unhealthy(format!(
                    "GET {url} answered HTTP 401 to {}'s credentials: the running service and its secret file disagree (restart it, or re-run setup)",
                    b.principal
                )),
            }
        }
        Ok(reply) => match judge(check, &reply) {
            Verdict::Healthy(d) => Verdict::Healthy(format!("GET {}: {d}", check.path)),
            Verdict::Waiting(d) => Verdict::Waiting(format!("GET {}: {d}", check.path)),
            Verdict::Electing(d) => Verdict::Electing(format!("GET {}: {d}", check.path)),
            Verdict::Unhealthy(d) => Verdict::Unhealthy(format!("GET {url} {d}")),
        },
        Err(Failure::Unreachable(e) | Failure::Broken(e)) => {
            Verdict::Unhealthy(format!("GET {url}: {e}"))
        }
    }
}

/// Asks every endpoint of a unit, in order, with the credentials the node
/// keeps for it; the first that is not healthy decides, else the details
/// joined.
pub fn ask_all(sys: &System, ip: Option<IpAddr>, unit: &str) -> Option<Verdict> {
    ask_all_with(sys, ip, unit, &Auth::for_unit(sys, unit))
}

pub fn ask_all_with(sys: &System, ip: Option<IpAddr>, unit: &str, auth: &Auth) -> Option<Verdict> {
    let checks = checks_of(unit);
    if checks.is_empty() {
        return None;
    }
    let mut said = Vec::new();
    for c in checks {
        match ask(sys, ip, c, auth) {
            Verdict::Healthy(d) => said.push(d),
            other => return Some(other),
        }
    }
    Some(Verdict::Healthy(said.join("; ")))
}

/// How an endpoint is protected, as [`verify`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Anonymous refused (401), a wrong secret refused, the credentials
    /// accepted.
    Protected(String),
    /// Anonymous refused; the credentials could not be tried (not root).
    RefusesAnonymous(String),
    /// Anonymous accepted.
    Open(String),
    /// Authentication is on but does not work as it must: a wrong secret
    /// accepted, or the right one refused.
    Broken(String),
    /// An answer that fits none of the above, as it is.
    Unexpected(String),
    Unreachable(String),
}

impl Protection {
    /// One word for reports and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Protection::Protected(_) => "protected",
            Protection::RefusesAnonymous(_) => "refuses anonymous",
            Protection::Open(_) => "open",
            Protection::Broken(_) => "broken",
            Protection::Unexpected(_) => "unexpected",
            Protection::Unreachable(_) => "unreachable",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Protection::Protected(d)
            | Protection::RefusesAnonymous(d)
            | Protection::Open(d)
            | Protection::Broken(d)
            | Protection::Unexpected(d)
            | Protection::Unreachable(d) => d,
        }
    }
}

/// The path whose protection proves a service's: an authenticated
/// read-only endpoint (Marathon's `/ping` may be served to anyone).
pub fn protected_path(service: Service) -> &'static str {
    match service {
        Service::Master | Service::Agent => "/state",
        Service::Marathon => "/v2/info",
    }
}

/// A secret no node has, to prove a wrong one is refused.
const WRONG_SECRET: &str = "mesos-docker-status-wrong-secret";

/// Whether a reply to an authenticated request means it was let in: 200,
/// or a Mesos master that serves and points elsewhere (307 to the leader,
/// 503 "No leader elected" come only after authentication).
fn admitted(status: u16, body: &str) -> bool {
    status == 200 || status == 307 || (status == 503 && body.contains("No leader elected"))
}

/// Proves how `addr`'s `path` is protected: an anonymous request, then (when
/// it is refused and the credentials are readable) a wrong secret and the
/// right one, each over `wire`.
pub fn verify(sys: &System, wire: &Wire, addr: &str, path: &str, auth: &Auth) -> Protection {
    let url = format!("{}://{addr}{path}", wire.scheme());
    let get = |a: Option<&BasicAuth>| -> Result<(u16, String), Protection> {
        let reply = exchange(sys, wire, addr, &request_as(addr, path, a)).map_err(|f| match f {
            Failure::Unreachable(e) => Protection::Unreachable(format!("GET {url}: {e}")),
            Failure::Broken(e) => Protection::Broken(format!("GET {url}: {e}")),
        })?;
        parse(&reply)
            .map(|(s, b)| (s, b.to_owned()))
            .map_err(|e| Protection::Unreachable(format!("GET {url} {e}")))
    };
    let anonymous = match get(None) {
        Ok((s, _)) => s,
        Err(p) => return p,
    };
    if anonymous == 200 {
        return Protection::Open(format!("anonymous GET {path} answered 200"));
    }
    if anonymous != 401 {
        return Protection::Unexpected(format!("anonymous GET {path} answered HTTP {anonymous}"));
    }
    let good = match auth {
        Auth::Basic(b) => b,
        Auth::NotRoot => {
            return Protection::RefusesAnonymous(format!(
                "anonymous GET {path} refused (401); the credentials are readable only by root: run as root to verify they are accepted"
            ));
        }
        Auth::Unusable(why) => {
            return Protection::Broken(format!(
                "anonymous GET {path} refused (401), but the credentials cannot be used: {why}"
            ));
        }
        Auth::Anonymous => {
            return Protection::Broken(format!(
                "anonymous GET {path} refused (401), but this node has no credentials for it in {SECRETS_DIR}"
            ));
        }
    };
    let wrong = BasicAuth {
        principal: good.principal.clone(),
        secret: Secret::from_stored(WRONG_SECRET.to_owned()),
    };
    match get(Some(&wrong)) {
        Err(p) => return p,
        Ok((s, b)) if admitted(s, &b) => {
            return Protection::Broken(format!(
                "GET {path} with a wrong secret for {} answered HTTP {s}: any password is let in",
                good.principal
            ));
        }
        Ok(_) => {}
    }
    match get(Some(good)) {
        Err(p) => p,
        Ok((s, b)) if admitted(s, &b) => Protection::Protected(format!(
            "anonymous GET {path} refused (401), {}'s credentials accepted ({s}), a wrong secret refused",
            good.principal
        )),
        Ok((401, _)) => Protection::Broken(format!(
            "GET {path} refused {}'s credentials (401): the running service and its secret file disagree (restart it, or re-run setup)",
            good.principal
        )),
        Ok((s, _)) => Protection::Unexpected(format!(
            "GET {path} with {}'s credentials answered HTTP {s}",
            good.principal
        )),
    }
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

    /// An HTTP server double (hyper, on a loopback port) that answers by
    /// the Authorization header it gets: `answer(None)` for an anonymous
    /// request, `answer(Some("user:secret"))` otherwise. Returns its
    /// address and every Authorization it saw.
    fn server(
        answer: fn(Option<&str>) -> u16,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
    ) {
        use base64::Engine;
        use http_body_util::Full;
        use hyper_util::rt::TokioIo;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                while let Ok((stream, _)) = l.accept().await {
                    let log = log.clone();
                    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let pair = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Basic "))
                            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                            .map(|b| String::from_utf8(b).unwrap());
                        log.lock().unwrap().push(pair.clone());
                        let status = answer(pair.as_deref());
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(bytes::Bytes::from_static(b"{}")))
                                    .unwrap(),
                            )
                        }
                    });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        (addr, seen)
    }

    fn host() -> System {
        System::new(
            "/nonexistent-root",
            Box::new(crate::setup::host::system::HostRunner),
        )
    }

    fn operator(secret: &str) -> Auth {
        Auth::Basic(BasicAuth {
            principal: "operator".into(),
            secret: Secret::from_stored(secret.into()),
        })
    }

    /// Each verdict against a server that really checks (or fails to
    /// check) the Authorization header.
    #[test]
    fn protection_verified_against_a_server() {
        let auth = operator("s3cr3t");
        let (addr, seen) = server(|a| {
            if a == Some("operator:s3cr3t") {
                200
            } else {
                401
            }
        });
        let v = verify(&host(), &Wire::Plain, &addr, "/state", &auth);
        assert_eq!(v.word(), "protected", "{v:?}");
        assert_eq!(
            v.detail(),
            "anonymous GET /state refused (401), operator's credentials accepted (200), a wrong secret refused"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                None,
                Some(format!("operator:{WRONG_SECRET}")),
                Some("operator:s3cr3t".into())
            ]
        );
        // The secret is not in what an operator reads.
        assert!(!format!("{v:?}").contains("s3cr3t"));

        let (addr, _) = server(|_| 200);
        let v = verify(&host(), &Wire::Plain, &addr, "/state", &auth);
        assert_eq!(
            v,
            Protection::Open("anonymous GET /state answered 200".into())
        );

        // Authentication on, but any password let in.
        let (addr, _) = server(|a| if a.is_some() { 200 } else { 401 });
        let v = verify(&host(), &Wire::Plain, &addr, "/v2/info", &auth);
        assert_eq!(
            v,
            Protection::Broken(
                "GET /v2/info with a wrong secret for operator answered HTTP 200: any password is let in".into()
            )
        );

        // The service runs with other credentials than the file holds.
        let (addr, _) = server(|a| {
            if a == Some("operator:other") {
                200
            } else {
                401
            }
        });
        assert_eq!(
            verify(&host(), &Wire::Plain, &addr, "/state", &auth).word(),
            "broken"
        );

        let (addr, _) = server(|_| 403);
        assert_eq!(
            verify(&host(), &Wire::Plain, &addr, "/state", &auth),
            Protection::Unexpected("anonymous GET /state answered HTTP 403".into())
        );

        // Not root: anonymous refused is all that can be said.
        let (addr, seen) = server(|_| 401);
        let v = verify(&host(), &Wire::Plain, &addr, "/state", &Auth::NotRoot);
        assert_eq!(v.word(), "refuses anonymous");
        assert!(v.detail().contains("run as root to verify"), "{v:?}");
        assert_eq!(*seen.lock().unwrap(), [None]);

        // Nothing listening.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap().to_string();
        drop(free);
        assert_eq!(
            verify(&host(), &Wire::Plain, &addr, "/state", &auth).word(),
            "unreachable"
        );
    }

    /// Health probes send the credentials where the endpoint wants them,
    /// and only there.
    #[test]
    fn health_asks_with_credentials_where_needed() {
        let auth = operator("k3y");
        let (addr, seen) = server(|a| if a == Some("operator:k3y") { 200 } else { 401 });
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        let ip = Some("127.0.0.1".parse().unwrap());
        let state = HttpCheck {
            port,
            ..checks_of("mesos-agent")[0]
        };
        let health = HttpCheck {
            port,
            ..checks_of("mesos-master")[0]
        };
        assert!(!health.authenticated && state.authenticated);
        assert_eq!(
            ask(&host(), ip, &state, &auth),
            Verdict::Healthy("GET /state: version unknown, no master yet".into())
        );
        ask(&host(), ip, &health, &auth);
        assert_eq!(*seen.lock().unwrap(), [Some("operator:k3y".into()), None]);
        // Without credentials a 401 says why, not just the number.
        let v = ask(&host(), ip, &state, &Auth::NotRoot);
        assert!(
            matches!(&v, Verdict::Waiting(d) if d.contains("run as root")),
            "{v:?}"
        );
        let v = ask(&host(), ip, &state, &Auth::Anonymous);
        assert!(
            matches!(&v, Verdict::Unhealthy(d) if d.contains("has none in /etc/mesos-docker/secrets")),
            "{v:?}"
        );
    }

    fn token(b: &str) -> crate::setup::input::token::ClusterToken {
        crate::setup::input::token::ClusterToken::parse(&format!("mdt1_{}", b.repeat(32)), "t")
            .unwrap()
    }

    /// A node's TLS files from `token`, for a server on 127.0.0.1 (or only
    /// on `ip`).
    fn issued(b: &str, ips: &[&str]) -> crate::setup::plan::tls::NodeTls {
        let node = crate::setup::plan::tls::NodeName {
            hostname: "master-1".into(),
            ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
        };
        crate::setup::plan::tls::issue(&token(b), &node).unwrap()
    }

    fn tls_server(b: &str, ips: &[&str]) -> crate::setup::host::testkit::TlsServer {
        let tls = issued(b, ips);
        crate::setup::host::testkit::TlsServer::start(&tls.cert_pem, tls.key_pem.expose(), |a| {
            if a == Some("operator:s3cr3t") {
                200
            } else {
                401
            }
        })
    }

    /// A root whose tls.env turns TLS on, with token `b`'s CA.
    fn tls_root(b: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let p = d.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let env: String = crate::setup::plan::tls::env_lines()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        put(TLS_ENV, &env);
        put(CA_CERT, &issued(b, &["127.0.0.1"]).ca_pem);
        d
    }

    #[test]
    fn the_wire_is_one_decision_from_tls_env_and_the_ca() {
        let ca = issued("ab", &["127.0.0.1"]).ca_pem;
        let nf = || Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        let denied = || Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(Wire::decide(Ok(false), nf), Wire::Plain);
        assert_eq!(
            Wire::decide(Ok(true), || Ok(ca.clone())),
            Wire::Tls { ca_pem: ca.clone() }
        );
        let broken = |w: Wire| match w {
            Wire::Broken(why) => why,
            other => panic!("{other:?}"),
        };
        let why = broken(Wire::decide(Ok(true), nf));
        assert_eq!(
            why,
            "TLS is on (/etc/mesos-docker/tls.env) but the cluster CA /etc/mesos-docker/tls/ca.pem is missing: run mesos-docker setup again to write it"
        );
        let why = broken(Wire::decide(Ok(true), denied));
        assert!(
            why.contains("cannot be read") && why.contains(CA_CERT),
            "{why}"
        );
        for bad in [
            "",
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let why = broken(Wire::decide(Ok(true), || Ok(bad.to_owned())));
            assert!(
                why.contains("is not a usable CA certificate"),
                "{bad:?}: {why}"
            );
        }
        let why = broken(Wire::decide(
            Err(TlsEnvError(std::io::ErrorKind::PermissionDenied.into())),
            nf,
        ));
        assert!(
            why.starts_with("cannot read /etc/mesos-docker/tls.env"),
            "{why}"
        );
        assert_eq!(Wire::Plain.scheme(), "http");
        assert_eq!(Wire::Broken(String::new()).scheme(), "https");

        // Read from a root: tls.env absent, off, on; Marathon never TLS.
        let d = tls_root("ab");
        let sys = System::new(d.path(), Box::new(crate::setup::host::system::HostRunner));
        assert_eq!(Wire::of(&sys, true), Wire::Tls { ca_pem: ca.clone() });
        assert_eq!(Wire::of(&sys, false), Wire::Plain);
        std::fs::write(sys.path(TLS_ENV), "LIBPROCESS_SSL_ENABLED=false\n").unwrap();
        assert_eq!(Wire::of(&sys, true), Wire::Plain);
        std::fs::remove_file(sys.path(TLS_ENV)).unwrap();
        assert_eq!(Wire::of(&sys, true), Wire::Plain);
        assert!(!checks_of("marathon")[0].libprocess);
        assert!(checks_of("mesos-agent")[0].libprocess);
    }

    /// Over TLS the protection is proved as over http, the certificate
    /// verified first.
    #[test]
    fn protection_verified_over_tls_with_the_cluster_ca() {
        let server = tls_server("ab", &["10.0.0.5", "127.0.0.1"]);
        let wire = Wire::Tls {
            ca_pem: issued("ab", &["127.0.0.1"]).ca_pem,
        };
        let v = verify(&host(), &wire, &server.addr, "/state", &operator("s3cr3t"));
        assert_eq!(v.word(), "protected", "{v:?}");
        assert_eq!(
            *server.seen.lock().unwrap(),
            [
                None,
                Some(format!("operator:{WRONG_SECRET}")),
                Some("operator:s3cr3t".into())
            ]
        );
        // The health probe reads the same decision from the node's files.
        let d = tls_root("ab");
        let sys = System::new(d.path(), Box::new(crate::setup::host::system::HostRunner));
        let check = HttpCheck {
            port: server.port(),
            ..checks_of("mesos-agent")[0]
        };
        let ip = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            ask(&sys, ip, &check, &operator("s3cr3t")),
            Verdict::Healthy("GET /state: version unknown, no master yet".into())
        );
        let v = ask(&sys, ip, &check, &operator("wrong"));
        assert!(
            matches!(&v, Verdict::Unhealthy(d) if d.starts_with(&format!("GET https://{}/state answered HTTP 401", server.addr))),
            "{v:?}"
        );
    }

    /// The attack: a server whose certificate another token's CA signed
    /// (another cluster, or a man in the middle with a certificate of his
    /// own) never receives a request, so never the credentials; and the
    /// verdict says why. One of the cluster's certificates that does not
    /// name the address asked is refused as well.
    #[test]
    fn a_foreign_certificate_gets_no_credentials() {
        let wire = Wire::Tls {
            ca_pem: issued("ab", &["127.0.0.1"]).ca_pem,
        };
        let foreign = tls_server("cd", &["127.0.0.1"]);
        let v = verify(&host(), &wire, &foreign.addr, "/state", &operator("s3cr3t"));
        assert_eq!(v.word(), "broken", "{v:?}");
        assert!(
            v.detail()
                .contains("its TLS certificate is not the cluster's")
                && v.detail().contains("no credentials were sent"),
            "{v:?}"
        );
        let d = tls_root("ab");
        let sys = System::new(d.path(), Box::new(crate::setup::host::system::HostRunner));
        let check = HttpCheck {
            port: foreign.port(),
            ..checks_of("mesos-agent")[0]
        };
        let ip = Some("127.0.0.1".parse().unwrap());
        let v = ask(&sys, ip, &check, &operator("s3cr3t"));
        assert!(
            matches!(&v, Verdict::Unhealthy(d) if d.contains("not the cluster's")),
            "{v:?}"
        );
        assert!(foreign.seen.lock().unwrap().is_empty());

        let elsewhere = tls_server("ab", &["10.0.0.5"]);
        let v = verify(
            &host(),
            &wire,
            &elsewhere.addr,
            "/state",
            &operator("s3cr3t"),
        );
        assert!(
            v.word() == "broken" && v.detail().contains("does not name 127.0.0.1"),
            "{v:?}"
        );
        assert!(elsewhere.seen.lock().unwrap().is_empty());
    }

    /// TLS on, but the port answers plain http (a daemon not restarted
    /// since tls.env was written, or a downgrade): no plain-text retry.
    #[test]
    fn a_plain_server_where_tls_is_on_is_broken_not_asked_in_clear() {
        let (addr, seen) = server(|_| 200);
        let wire = Wire::Tls {
            ca_pem: issued("ab", &["127.0.0.1"]).ca_pem,
        };
        let v = verify(&host(), &wire, &addr, "/state", &operator("s3cr3t"));
        assert_eq!(v.word(), "broken", "{v:?}");
        assert!(v.detail().contains("does not speak TLS"), "{v:?}");
        assert!(seen.lock().unwrap().iter().all(Option::is_none), "{seen:?}");
        // A broken CA: nothing is asked at all.
        let v = verify(
            &host(),
            &Wire::Broken("the CA is missing".into()),
            &addr,
            "/state",
            &operator("s3cr3t"),
        );
        assert_eq!(
            v,
            Protection::Broken(format!("GET https://{addr}/state: the CA is missing"))
        );
        // Marathon stays plain http on a TLS node.
        let d = tls_root("ab");
        let sys = System::new(d.path(), Box::new(crate::setup::host::system::HostRunner));
        let (addr, _) = server(|a| {
            if a == Some("operator:s3cr3t") {
                200
            } else {
                401
            }
        });
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        let check = HttpCheck {
            port,
            expect: Expect::Ok,
            ..checks_of("marathon")[0]
        };
        assert_eq!(
            ask(
                &sys,
                Some("127.0.0.1".parse().unwrap()),
                &check,
                &operator("s3cr3t")
            ),
            Verdict::Healthy("GET /ping: 200".into())
        );
    }
}
