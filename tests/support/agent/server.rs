//! HTTP glue: accepts connections on the agent's port, answers
//! POST /api/v1/executor through validate.rs and state.rs, and can drop every
//! connection or stop listening to play an agent that went away.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use super::state::{Availability, Reply, Shared};
use super::validate::{self, Refusal};
use crate::support::wire::{EXECUTOR_API, PROTOBUF};

pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Options the HTTP layer needs besides the shared state.
pub struct Server {
    pub shared: Arc<Shared>,
    pub addr: SocketAddr,
    pub auth: bool,
    /// HTTPS, as an agent whose libprocess runs with LIBPROCESS_SSL_ENABLED.
    tls: Option<tokio_rustls::TlsAcceptor>,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// A certificate chain and key in PEM, for an agent that speaks TLS.
#[derive(Clone, Debug)]
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

fn acceptor(identity: &TlsIdentity) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("a PEM certificate chain");
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("a PEM key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("the certificate and its key");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl Server {
    pub fn bind(
        shared: Arc<Shared>,
        auth: bool,
        tls: Option<&TlsIdentity>,
    ) -> std::io::Result<Arc<Self>> {
        let listener = listen("127.0.0.1:0".parse().expect("an address"))?;
        let server = Arc::new(Server {
            shared,
            addr: listener.local_addr()?,
            auth,
            tls: tls.map(acceptor),
            tasks: Mutex::new(Vec::new()),
        });
        server.serve(listener);
        Ok(server)
    }

    fn serve(self: &Arc<Self>, listener: TcpListener) {
        let me = Arc::clone(self);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let conn_me = Arc::clone(&me);
                let conn = tokio::spawn(async move {
                    let tls = conn_me.tls.clone();
                    let shared = Arc::clone(&conn_me.shared);
                    let service = hyper::service::service_fn(move |req| {
                        let me = Arc::clone(&conn_me);
                        async move { Ok::<_, std::convert::Infallible>(me.answer(req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                        }
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                            Err(e) => {
                                shared.lock().tls_failures.push(e.to_string());
                                shared.changed.notify_waiters();
                            }
                        },
                    }
                });
                me.track(conn.abort_handle());
            }
        });
        self.track(accept.abort_handle());
    }

    fn track(&self, handle: AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    /// Closes every connection (event streams included) and stops listening.
    pub fn stop(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            t.abort();
        }
    }

    /// Listens again on the same port after `stop`.
    pub async fn restart(self: &Arc<Self>) -> std::io::Result<()> {
        // The aborted accept task drops its listener at its next poll, so the
        // port may still be taken for a moment.
        let mut tries = 0;
        let listener = loop {
            match listen(self.addr) {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => break other?,
            }
        };
        self.serve(listener);
        Ok(())
    }

    pub async fn answer(&self, req: Request<Incoming>) -> Response<Body> {
        match self.reply(req).await {
            Reply::Accepted => plain(StatusCode::ACCEPTED, String::new()),
            Reply::NotImplemented => plain(StatusCode::NOT_IMPLEMENTED, String::new()),
            Reply::Refused(r) => {
                let mut resp = plain(
                    StatusCode::from_u16(r.status).expect("a valid status"),
                    r.message,
                );
                if r.status == 401 {
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        "Bearer realm=\"mesos-agent-executor\""
                            .parse()
                            .expect("ascii"),
                    );
                }
                if r.status == 405 {
                    resp.headers_mut()
                        .insert(header::ALLOW, "POST".parse().expect("ascii"));
                }
                resp
            }
            Reply::Stream(body) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, PROTOBUF)
                .body(body.map_err(|e| Box::new(e) as _).boxed())
                .expect("a valid response"),
        }
    }

    async fn reply(&self, req: Request<Incoming>) -> Reply {
        let shared = &self.shared;
        if req.uri().path() != EXECUTOR_API {
            return shared.refuse(
                Refusal::new(
                    404,
                    format!("no endpoint {} on this agent", req.uri().path()),
                ),
                None,
            );
        }
        let header_str = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("<not text>").to_string())
        };
        let token = header_str(header::AUTHORIZATION);
        let content_type = header_str(header::CONTENT_TYPE);
        let accept = header_str(header::ACCEPT);
        let method = req.method().as_str().to_string();
        let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
            return shared.refuse(Refusal::new(400, "request body could not be read"), None);
        };
        let token = match self.authenticate(token.as_deref()) {
            Ok(token) => token,
            Err(r) => return shared.refuse(r, None),
        };
        if shared.lock().availability == Availability::Recovering {
            // Named when the body says who called, for retry timing tests.
            let caller = validate::parse_call(&body)
                .ok()
                .map(|c| c.executor_id.value);
            return shared.refuse(Refusal::new(503, "Agent has not finished recovery"), caller);
        }
        let parsed = validate::check_request(&method, content_type.as_deref())
            .and_then(|()| validate::parse_call(&body))
            .and_then(|call| validate::validate_call(&call).map(|()| call));
        let call = match parsed {
            Ok(call) => call,
            Err(r) => return shared.refuse(r, None),
        };
        let eid = call.executor_id.value.clone();
        if call.r#type == Some(mesos_docker::proto::executor::call::Type::Subscribe as i32)
            && let Err(r) = validate::subscribe_media_type(accept.as_deref())
        {
            return shared.refuse(r, Some(eid));
        }
        let hold = shared.lock().subscribe_hold;
        if let Some(hold) = hold
            && call.r#type == Some(mesos_docker::proto::executor::call::Type::Subscribe as i32)
        {
            tokio::time::sleep(hold).await;
        }
        shared.dispatch(call, token.as_deref())
    }

    /// Bearer authentication as the agent's executor authenticator does it
    /// when the agent runs with `--authenticate_http_executors`.
    fn authenticate(&self, header: Option<&str>) -> Result<Option<String>, Refusal> {
        if !self.auth {
            return Ok(None);
        }
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| Refusal::new(401, "Unauthorized: missing 'Authorization: Bearer'"))?;
        let known = self
            .shared
            .lock()
            .executors
            .values()
            .any(|ex| ex.token.as_deref() == Some(token));
        if known {
            Ok(Some(token.to_string()))
        } else {
            Err(Refusal::new(401, "Unauthorized: invalid token"))
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

fn plain(status: StatusCode, message: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(
            Full::new(Bytes::from(message))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a valid response")
}
