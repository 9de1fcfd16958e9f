//! HTTP(S) proxies: the HTTP_PROXY, HTTPS_PROXY and NO_PROXY of setup's own
//! environment (or their lower-case forms), passed on to the daemons that
//! fetch: Docker pulls images, the Mesos agent's fetcher downloads URIs,
//! Marathon and the master resolve artifacts. A proxy URL may carry a
//! password, so the values go into one root-only file ([`ENV_FILE`], 0600)
//! that systemd drop-ins name in `EnvironmentFile=` and upstart jobs source;
//! everything world-readable (drop-ins, job files) and everything printed
//! shows only `user:***@`. Unsetting the proxy removes them again.

use serde::Serialize;

/// The proxy settings setup was run with; read once, at the edge. Debug and
/// Serialize show passwords as `***`.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Proxy {
    #[serde(serialize_with = "serialize_redacted")]
    pub http: Option<String>,
    #[serde(serialize_with = "serialize_redacted")]
    pub https: Option<String>,
    pub no: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = |v: &Option<String>| v.as_deref().map(redacted);
        f.debug_struct("Proxy")
            .field("http", &r(&self.http))
            .field("https", &r(&self.https))
            .field("no", &self.no)
            .finish()
    }
}

fn serialize_redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    v.as_deref().map(redacted).serialize(s)
}

/// The root-only file holding the proxy variables (it may hold a password).
pub const ENV_FILE: &str = "/etc/mesos-docker/proxy.env";

/// A proxy value with its password (everything between the user's `:` and
/// the last `@`) shown as `***`.
pub fn redacted(v: &str) -> String {
    let (scheme, rest) = match v.find("://") {
        Some(i) => v.split_at(i + 3),
        None => ("", v),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}{user}{hidden}@{host}")
        }
        None => v.to_owned(),
    }
}

const VARS: [&str; 3] = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];

/// A proxy variable setup cannot pass on; the value is shown redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "{var}: {shown:?} contains {c:?}, which cannot go into a service's environment; percent-encode it (a password in the URL, say) and run setup again"
    )]
    Unsafe {
        var: &'static str,
        shown: String,
        c: char,
    },
    #[error(
        "{var}: {shown:?} has credentials but no scheme; write it as http://USER:PASSWORD@HOST:PORT and run setup again"
    )]
    NoScheme { var: &'static str, shown: String },
}

impl Proxy {
    /// A proxy from these environment pairs, for tests.
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Proxy {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxy::from_env(|k| map.get(k).cloned())
    }

    /// From an environment lookup: the upper-case name, else the lower-case
    /// one; empty values count as unset.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Proxy {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let read = |name: &str| set(name).or_else(|| set(&name.to_ascii_lowercase()));
        Proxy {
            http: read(VARS[0]),
            https: read(VARS[1]),
            no: read(VARS[2]),
        }
    }

    pub fn is_set(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// Refuses what would not survive a unit file or an upstart stanza.
    pub fn check(&self) -> Result<(), ProxyError> {
        for (var, v) in VARS.iter().zip([&self.http, &self.https, &self.no]) {
            let Some(v) = v else { continue };
            if let Some(c) = v.chars().find(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '$' | '`' | '\'')
            }) {
                return Err(ProxyError::Unsafe {
                    var,
                    shown: redacted(v),
                    c,
                });
            }
            // Without a scheme, a password would not be recognised (and
            // hidden) in what setup prints.
            if v.contains('@') && !v.contains("://") {
                return Err(ProxyError::NoScheme {
                    var,
                    shown: redacted(v),
                });
            }
        }
        Ok(())
    }

    /// Each variable in both spellings: Go (Docker) reads either, libcurl
    /// (the Mesos fetcher) only the lower-case http_proxy.
    pub fn env(&self) -> Vec<(String, String)> {
        if !self.is_set() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, v) in VARS.iter().zip([&self.http, &self.https, &self.no]) {
            if let Some(v) = v {
                out.push((name.to_string(), v.clone()));
                out.push((name.to_ascii_lowercase(), v.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Proxy {
        Proxy::from_pairs(pairs)
    }

    #[test]
    fn upper_case_wins_and_empty_is_unset() {
        let p = env(&[
            ("HTTP_PROXY", "http://up:3128"),
            ("http_proxy", "http://low:3128"),
            ("https_proxy", "http://low:3129"),
            ("NO_PROXY", ""),
            ("no_proxy", "localhost,.example"),
        ]);
        assert_eq!(
            p,
            Proxy {
                http: Some("http://up:3128".into()),
                https: Some("http://low:3129".into()),
                no: Some("localhost,.example".into()),
            }
        );
        assert!(!env(&[("no_proxy", "localhost")]).is_set());
        assert!(env(&[("no_proxy", "localhost")]).env().is_empty());
    }

    #[test]
    fn passwords_never_print() {
        for (v, shown) in [
            (
                "http://user:s3cret@proxy:3128",
                "http://user:***@proxy:3128",
            ),
            (
                "http://user:s3@cret@proxy:3128",
                "http://user:***@proxy:3128",
            ),
            ("http://user@proxy:3128", "http://user@proxy:3128"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("user:s3cret@proxy:3128", "user:***@proxy:3128"),
        ] {
            assert_eq!(redacted(v), shown);
        }
        let p = env(&[
            ("HTTP_PROXY", "http://user:s3cret@proxy:3128"),
            ("HTTPS_PROXY", "http://user:s3cret@proxy:3129"),
        ]);
        let debug = format!("{p:?}");
        let json = serde_json::to_string(&p).unwrap();
        for shown in [&debug, &json] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("http://user:***@proxy:3129"), "{shown}");
        }
        for bad in ["http://user:s3 cret@proxy", "user:s3cret@proxy:3128"] {
            let e = env(&[("HTTP_PROXY", bad)]).check().unwrap_err().to_string();
            assert!(!e.contains("s3"), "{e}");
            assert!(e.contains("user:***@proxy"), "{e}");
        }
    }

    #[test]
    fn unsafe_values_are_refused_by_name() {
        let e = env(&[("HTTP_PROXY", "http://a b")]).check().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("HTTP_PROXY: \"http://a b\" contains ' '"),
            "{e}"
        );
        env(&[("HTTP_PROXY", "http://proxy:3128")]).check().unwrap();
    }
}
