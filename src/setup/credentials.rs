//! `mesos-docker credentials`: what an operator needs to reach this node's
//! authenticated APIs with curl or the Marathon CLI, and (`--token`, on a
//! master) the cluster token to join more nodes. Printed only to root: it
//! reads the 0600 files under /etc/mesos-docker/secrets through the
//! [`System`] seam, so `--root` reads a tree the same way.
//!
//! The ready-made forms keep secrets off command lines, where `ps` shows
//! them to every user: a curl config file (`curl -K`), a netrc file (`curl
//! --netrc-file`) and a marathonctl properties file (`marathonctl -c`).
//!
//! Where the node's Mesos speaks TLS ([`probes::mesos_tls_on`], the decision
//! the probes follow), the master and agent URLs are https and every form
//! names the cluster CA to verify them with; Marathon stays http.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::setup::host::probes;
use crate::setup::host::secrets::{self, SecretReadError, Service};
use crate::setup::host::system::{HostRunner, System};
use crate::setup::input::model::OutputFormat;
use crate::setup::input::token::{SECRETS_DIR, TOKEN_FILE};
use crate::setup::plan::tls::CA_CERT;

/// `mesos-docker credentials`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredentialsArgs {
    /// The root setup wrote under.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Output format: lines, or one JSON document.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Print only the cluster token, which joins more masters and agents
    /// (masters only: an agent keeps just its agent key).
    #[arg(long)]
    pub token: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "this prints secrets and runs only as root (effective uid {euid}): run it as root, e.g. sudo mesos-docker credentials"
    )]
    NotRoot { euid: u32 },
    #[error(
        "this node keeps no HTTP credentials under {dir}: it is insecure (set up with --insecure) or setup has not run here"
    )]
    NoCredentials { dir: String },
    #[error(
        "this node is an agent: it keeps only the agent key, never the cluster token; run mesos-docker credentials --token on a master"
    )]
    AgentHasNoToken,
    #[error(
        "no cluster token at {path}: this node is insecure (set up with --insecure) or setup has not run here"
    )]
    NoToken { path: String },
    #[error("reading the credentials")]
    Read(#[source] SecretReadError),
    #[error("telling whether this node's Mesos speaks TLS")]
    Tls(#[source] probes::TlsEnvError),
}

/// One service's credentials and the forms an operator uses them in.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ServiceCredentials {
    pub name: &'static str,
    pub url: String,
    pub principal: String,
    pub secret: String,
    /// The CA to verify an https URL with (the cluster CA); none for http.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cacert: Option<&'static str>,
    /// A curl config file's content, for `curl -K FILE URL`.
    pub curl_config: String,
    /// A netrc line, for `curl --netrc-file FILE URL`.
    pub netrc: String,
    /// Marathon only: marathonctl's properties, for `marathonctl -c FILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marathonctl_config: Option<String>,
}

/// What the node keeps for each service it serves over HTTP.
pub fn gather(sys: &System) -> Result<Vec<ServiceCredentials>, CredentialsError> {
    let ip = probes::advertised_ip(sys);
    let tls = probes::mesos_tls_on(sys).map_err(CredentialsError::Tls)?;
    let mut found = Vec::new();
    for service in Service::ALL {
        // Marathon's API is its own HTTP server, never libprocess'.
        let cacert = (tls && service != Service::Marathon).then_some(CA_CERT);
        match secrets::http_credential(sys, service) {
            Ok(auth) => found.push(forms(
                service,
                ip,
                cacert,
                &auth.principal,
                auth.secret.expose(),
            )),
            Err(SecretReadError::Missing { .. }) => {}
            Err(e) => return Err(CredentialsError::Read(e)),
        }
    }
    if found.is_empty() {
        return Err(CredentialsError::NoCredentials {
            dir: SECRETS_DIR.to_owned(),
        });
    }
    Ok(found)
}

fn forms(
    service: Service,
    ip: Option<IpAddr>,
    cacert: Option<&'static str>,
    principal: &str,
    secret: &str,
) -> ServiceCredentials {
    let scheme = if cacert.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", probes::address(ip, service.port()));
    // netrc names a host without brackets or port.
    let host = ip.map_or_else(|| "127.0.0.1".to_owned(), |i| i.to_string());
    let ca_line = cacert
        .map(|c| format!("cacert = \"{c}\"\n"))
        .unwrap_or_default();
    ServiceCredentials {
        name: service.unit(),
        cacert,
        curl_config: format!("user = \"{principal}:{secret}\"\n{ca_line}"),
        netrc: format!("machine {host} login {principal} password {secret}\n"),
        marathonctl_config: (service == Service::Marathon).then(|| {
            format!(
                "marathon.host: {url}\nmarathon.user: {principal}\nmarathon.password: {secret}\n"
            )
        }),
        url,
        principal: principal.to_owned(),
        secret: secret.to_owned(),
    }
}

/// The cluster token, on a node that keeps it.
pub fn token(sys: &System) -> Result<String, CredentialsError> {
    if secrets::holds_agent_key_only(sys) {
        return Err(CredentialsError::AgentHasNoToken);
    }
    match secrets::token(sys) {
        Ok(t) => Ok(t.expose().to_owned()),
        Err(SecretReadError::Missing { .. }) => Err(CredentialsError::NoToken {
            path: TOKEN_FILE.to_owned(),
        }),
        Err(e) => Err(CredentialsError::Read(e)),
    }
}

pub fn text(found: &[ServiceCredentials]) -> String {
    let mut out = String::from(
        "# Secrets follow: whoever holds one operates that API. Save a form below in a file\n\
         # only you can read (umask 077), never on a command line, where ps shows it.\n",
    );
    for c in found {
        let probe = match c.name {
            "marathon" => "/v2/info",
            _ => "/state",
        };
        out.push_str(&format!(
            "\n{}\n  url:       {}\n  principal: {}\n  secret:    {}\n",
            c.name, c.url, c.principal, c.secret
        ));
        if let Some(ca) = c.cacert {
            out.push_str(&format!("  cacert:    {ca} (the cluster CA)\n"));
        }
        out.push_str(&format!(
            "  curl config, for: curl -K FILE {}{probe}\n{}",
            c.url,
            indent(&c.curl_config)
        ));
        // netrc holds no CA: curl is told it on the command line (a path,
        // no secret).
        let ca = c
            .cacert
            .map(|p| format!("--cacert {p} "))
            .unwrap_or_default();
        out.push_str(&format!(
            "  netrc, for: curl {ca}--netrc-file FILE {}{probe}\n{}",
            c.url,
            indent(&c.netrc)
        ));
        if let Some(m) = &c.marathonctl_config {
            out.push_str(&format!(
                "  marathonctl properties, for: marathonctl -c FILE app list\n{}",
                indent(m)
            ));
        }
    }
    if found.len() > 1 {
        out.push_str(
            "\n# netrc matches by host only, and each service here has a secret of its own:\n\
             # keep one netrc file per service.\n",
        );
    }
    out
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("    {l}\n")).collect()
}

fn run(args: &CredentialsArgs, euid: u32) -> Result<String, CredentialsError> {
    if euid != 0 {
        return Err(CredentialsError::NotRoot { euid });
    }
    let sys = System::new(args.root.clone(), Box::new(HostRunner));
    let json = args.output == OutputFormat::Json;
    if args.token {
        let t = token(&sys)?;
        return Ok(if json {
            format!("{}\n", serde_json::json!({ "token": t }))
        } else {
            format!("{t}\n")
        });
    }
    let found = gather(&sys)?;
    Ok(if json {
        let doc = serde_json::json!({ "services": found });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("serializes")
        )
    } else {
        text(&found)
    })
}

pub fn main(args: CredentialsArgs) -> ExitCode {
    match run(&args, nix::unistd::geteuid().as_raw()) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mesos-docker credentials: {}", crate::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::host::secrets::{AGENT_HTTP, MARATHON_ENV, MASTER_HTTP};
    use crate::setup::input::token::{AGENT_KEY_FILE, ClusterToken, MasterPurpose};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn write(root: &std::path::Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::set_permissions(p.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn token() -> ClusterToken {
        ClusterToken::parse(&format!("mdt1_{}", "ab".repeat(32)), "test").unwrap()
    }

    /// A master's tree as the layout says setup writes it.
    fn master() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let t = token();
        let json =
            |s: &str| format!(r#"{{"credentials":[{{"principal":"operator","secret":"{s}"}}]}}"#);
        write(
            d.path(),
            "/etc/mesos-docker/master.env",
            "MESOS_IP=10.0.0.2\n",
        );
        write(d.path(), TOKEN_FILE, &format!("{}\n", t.encode().expose()));
        write(
            d.path(),
            MASTER_HTTP,
            &json(t.secret(MasterPurpose::MasterHttp).expose()),
        );
        write(
            d.path(),
            MARATHON_ENV,
            &format!(
                "MESOSPHERE_HTTP_CREDENTIALS=operator:{}\n",
                t.secret(MasterPurpose::MarathonHttp).expose()
            ),
        );
        d
    }

    fn args(root: &std::path::Path, output: OutputFormat, token: bool) -> CredentialsArgs {
        CredentialsArgs {
            root: root.to_owned(),
            output,
            token,
        }
    }

    #[test]
    fn a_master_prints_url_principal_secret_and_the_forms() {
        let d = master();
        let t = token();
        let m = t.secret(MasterPurpose::MasterHttp);
        let k = t.secret(MasterPurpose::MarathonHttp);
        let out = run(&args(d.path(), OutputFormat::Text, false), 0).unwrap();
        for want in [
            format!(
                "mesos-master\n  url:       http://10.0.0.2:5050\n  principal: operator\n  secret:    {}\n",
                m.expose()
            ),
            format!(
                "  curl config, for: curl -K FILE http://10.0.0.2:5050/state\n    user = \"operator:{}\"\n",
                m.expose()
            ),
            format!(
                "  netrc, for: curl --netrc-file FILE http://10.0.0.2:8080/v2/info\n    machine 10.0.0.2 login operator password {}\n",
                k.expose()
            ),
            format!(
                "    marathon.host: http://10.0.0.2:8080\n    marathon.user: operator\n    marathon.password: {}\n",
                k.expose()
            ),
            "keep one netrc file per service".to_owned(),
        ] {
            assert!(out.contains(&want), "{out}\nlacks\n{want}");
        }
        assert!(!out.contains("mesos-agent"), "{out}");
        let json: serde_json::Value =
            serde_json::from_str(&run(&args(d.path(), OutputFormat::Json, false), 0).unwrap())
                .unwrap();
        let s = &json["services"];
        assert_eq!(s.as_array().unwrap().len(), 2, "{json}");
        assert_eq!(s[0]["name"], "mesos-master");
        assert_eq!(s[0]["secret"], m.expose());
        assert_eq!(s[1]["url"], "http://10.0.0.2:8080");
        assert_eq!(s[1]["principal"], "operator");
        assert!(s[0].get("marathonctl_config").is_none());
        // The token only when asked, and then alone.
        assert!(!out.contains(t.encode().expose()));
        assert_eq!(
            run(&args(d.path(), OutputFormat::Text, true), 0).unwrap(),
            format!("{}\n", t.encode().expose())
        );
        let j: serde_json::Value =
            serde_json::from_str(&run(&args(d.path(), OutputFormat::Json, true), 0).unwrap())
                .unwrap();
        assert_eq!(j["token"], t.encode().expose());
    }

    /// TLS on: the Mesos URLs are https and every form names the cluster
    /// CA; Marathon's stay http. An unreadable tls.env is an error, not a
    /// guess.
    #[test]
    fn a_tls_node_gets_https_urls_and_the_ca_in_each_form() {
        let d = master();
        write(
            d.path(),
            crate::setup::plan::tls::TLS_ENV,
            "LIBPROCESS_SSL_ENABLED=true\nLIBPROCESS_SSL_SUPPORT_DOWNGRADE=false\n",
        );
        let m = token().secret(MasterPurpose::MasterHttp);
        let out = run(&args(d.path(), OutputFormat::Text, false), 0).unwrap();
        for want in [
            "mesos-master\n  url:       https://10.0.0.2:5050\n".to_owned(),
            "  cacert:    /etc/mesos-docker/tls/ca.pem (the cluster CA)\n".to_owned(),
            format!(
                "  curl config, for: curl -K FILE https://10.0.0.2:5050/state\n    user = \"operator:{}\"\n    cacert = \"/etc/mesos-docker/tls/ca.pem\"\n",
                m.expose()
            ),
            "  netrc, for: curl --cacert /etc/mesos-docker/tls/ca.pem --netrc-file FILE https://10.0.0.2:5050/state\n".to_owned(),
            "  netrc, for: curl --netrc-file FILE http://10.0.0.2:8080/v2/info\n".to_owned(),
            "    marathon.host: http://10.0.0.2:8080\n".to_owned(),
        ] {
            assert!(out.contains(&want), "{out}\nlacks\n{want}");
        }
        let json: serde_json::Value =
            serde_json::from_str(&run(&args(d.path(), OutputFormat::Json, false), 0).unwrap())
                .unwrap();
        let s = &json["services"];
        assert_eq!(s[0]["url"], "https://10.0.0.2:5050");
        assert_eq!(s[0]["cacert"], "/etc/mesos-docker/tls/ca.pem");
        assert!(
            s[0]["curl_config"]
                .as_str()
                .unwrap()
                .ends_with("cacert = \"/etc/mesos-docker/tls/ca.pem\"\n")
        );
        assert_eq!(s[1]["url"], "http://10.0.0.2:8080");
        assert!(s[1].get("cacert").is_none(), "{json}");
        // TLS off again: plain http, no CA anywhere.
        write(
            d.path(),
            crate::setup::plan::tls::TLS_ENV,
            "LIBPROCESS_SSL_ENABLED=false\n",
        );
        let out = run(&args(d.path(), OutputFormat::Text, false), 0).unwrap();
        assert!(
            !out.contains("https://") && !out.contains("cacert"),
            "{out}"
        );
        // A tls.env that cannot be read (a directory here) is an error.
        let env = d.path().join(&crate::setup::plan::tls::TLS_ENV[1..]);
        fs::remove_file(&env).unwrap();
        fs::create_dir(&env).unwrap();
        let e = run(&args(d.path(), OutputFormat::Text, false), 0).unwrap_err();
        assert!(
            crate::error_chain(&e).contains("cannot read /etc/mesos-docker/tls.env"),
            "{e:?}"
        );
    }

    #[test]
    fn an_agent_has_its_own_credentials_and_no_token() {
        let d = tempfile::tempdir().unwrap();
        let key = token().agent_key();
        write(
            d.path(),
            AGENT_KEY_FILE,
            &format!("{}\n", key.encode().expose()),
        );
        write(
            d.path(),
            AGENT_HTTP,
            &format!(
                r#"{{"credentials":[{{"principal":"operator","secret":"{}"}}]}}"#,
                key.secret(crate::setup::input::token::AgentPurpose::AgentHttp)
                    .expose()
            ),
        );
        let found = gather(&System::new(d.path(), Box::new(HostRunner))).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].url, "http://127.0.0.1:5051");
        let e = run(&args(d.path(), OutputFormat::Text, true), 0).unwrap_err();
        assert!(matches!(e, CredentialsError::AgentHasNoToken), "{e:?}");
        assert!(e.to_string().contains("on a master"));
    }

    #[test]
    fn refusals_are_clear() {
        let d = master();
        let e = run(&args(d.path(), OutputFormat::Text, false), 65534).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this prints secrets and runs only as root (effective uid 65534): run it as root, e.g. sudo mesos-docker credentials"
        );
        // An insecure node, or one setup never ran on.
        let empty = tempfile::tempdir().unwrap();
        let e = run(&args(empty.path(), OutputFormat::Text, false), 0).unwrap_err();
        assert!(matches!(e, CredentialsError::NoCredentials { .. }), "{e:?}");
        let e = run(&args(empty.path(), OutputFormat::Text, true), 0).unwrap_err();
        assert!(matches!(e, CredentialsError::NoToken { .. }), "{e:?}");
        // A damaged file is named, its content is not.
        write(d.path(), MASTER_HTTP, r#"{"credentials":"c0ffee"}"#);
        let e = run(&args(d.path(), OutputFormat::Text, false), 0).unwrap_err();
        let chain = crate::error_chain(&e);
        assert!(
            chain.contains(MASTER_HTTP) && !chain.contains("c0ffee"),
            "{chain}"
        );
    }
}
