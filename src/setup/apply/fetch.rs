//! Downloads for setup: HTTPS (or plain HTTP only when a SHA-256 pins the
//! file, and a redirect from https to http likewise), streamed to a
//! temporary file with a progress bar on a terminal, verified with SHA-256
//! before anything uses it, and kept in a cache so a second run downloads
//! nothing. A local path (air-gapped sites) is verified
//! the same way. A mismatch names both digests and leaves nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

pub const DEFAULT_CACHE: &str = "/var/cache/mesos-docker";

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(
        "refusing {url}: plain HTTP without a pinned SHA-256 could be tampered with on the way; \
         use an https:// URL or pin the file's sha256"
    )]
    InsecureUnpinned { url: String },
    #[error("`{0}` is not a SHA-256 digest (64 hexadecimal digits)")]
    BadDigest(String),
    #[error(
        "cannot download {url}: {cause}; check the URL, the network and HTTPS_PROXY/NO_PROXY, or point setup at a mirror or a local file"
    )]
    Unreachable {
        url: String,
        // Shown inside the message, not as a source: the advice must
        // come after it.
        cause: reqwest::Error,
    },
    #[error(
        "refusing {url}: it redirects to {to}, plain HTTP that could be tampered with on the way; \
         pin the file's sha256 (a pinned download may follow it) or use a URL that stays on https://"
    )]
    InsecureRedirect { url: String, to: String },
    #[error("cannot download {url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{what}: SHA-256 mismatch: expected {expected}, got {actual}; nothing was installed")]
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot set up HTTPS downloads: {why}. A host without CA certificates needs the ca-certificates package (apt-get install ca-certificates), or --mirror-ca FILE naming the CA that signs your mirror"
    )]
    ClientSetup { why: String },
    #[error("the CA bundle {path} holds no usable certificate: {why}")]
    BadCaBundle { path: String, why: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where a file comes from and, when known, its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `https://…`, `http://…` (pinned only), `file:///…` or an absolute path.
    pub location: String,
    /// Lower-case hex SHA-256.
    pub sha256: Option<String>,
}

impl Source {
    pub fn new(location: &str, sha256: Option<&str>) -> Result<Source, FetchError> {
        let sha256 = match sha256 {
            None => None,
            Some(d) => {
                let d = d.trim().to_ascii_lowercase();
                if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(FetchError::BadDigest(d));
                }
                Some(d)
            }
        };
        Ok(Source {
            location: location.to_string(),
            sha256,
        })
    }

    fn local_path(&self) -> Option<PathBuf> {
        if let Some(p) = self.location.strip_prefix("file://") {
            return Some(PathBuf::from(p));
        }
        self.location
            .starts_with('/')
            .then(|| PathBuf::from(&self.location))
    }

    fn file_name(&self) -> String {
        let tail = self
            .location
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let clean: String = tail
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-+".contains(*c))
            .collect();
        if clean.is_empty() {
            "download".into()
        } else {
            clean
        }
    }
}

/// A file ready to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
    /// Whether this run went to the network for it.
    pub downloaded: bool,
}

pub struct Fetcher {
    /// A site's CA certificates, trusted besides the system's.
    roots: Vec<reqwest::Certificate>,
    /// Made on the first download: local files and cached copies need no
    /// TLS, so a host without CA certificates can still install from them.
    /// One for unpinned downloads (no redirect away from https), one for
    /// pinned ones (any redirect: the pin decides what is kept).
    unpinned: std::sync::OnceLock<reqwest::Client>,
    pinned: std::sync::OnceLock<reqwest::Client>,
    cache: PathBuf,
    progress: bool,
}

impl Fetcher {
    /// `ca_bundle` adds a PEM bundle to the system's roots (a site's own CA
    /// in front of a mirror). `progress`: draw bars (on a terminal only).
    pub fn new(
        cache: &Path,
        ca_bundle: Option<&Path>,
        progress: bool,
    ) -> Result<Fetcher, FetchError> {
        let mut roots = Vec::new();
        if let Some(path) = ca_bundle {
            let pem = std::fs::read(path).map_err(io(path))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                FetchError::BadCaBundle {
                    path: path.display().to_string(),
                    why: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(FetchError::BadCaBundle {
                    path: path.display().to_string(),
                    why: "no PEM certificate found".into(),
                });
            }
            roots = certs;
        }
        Ok(Fetcher {
            roots,
            unpinned: std::sync::OnceLock::new(),
            pinned: std::sync::OnceLock::new(),
            cache: cache.to_path_buf(),
            progress,
        })
    }

    fn client(&self, pinned: bool) -> Result<&reqwest::Client, FetchError> {
        let cell = if pinned { &self.pinned } else { &self.unpinned };
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        crate::install_crypto_provider();
        let redirects = if pinned {
            reqwest::redirect::Policy::limited(MAX_REDIRECTS)
        } else {
            reqwest::redirect::Policy::custom(refuse_downgrades)
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("mesos-docker/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .https_only(false);
        for c in &self.roots {
            builder = builder.add_root_certificate(c.clone());
        }
        let client = builder.build().map_err(|e| FetchError::ClientSetup {
            why: crate::error_chain(&e),
        })?;
        Ok(cell.get_or_init(|| client))
    }

    /// Where a source is kept once fetched: named by a digest of its
    /// location, so an unpinned source is also found again.
    fn cached_path(&self, source: &Source) -> PathBuf {
        let key = hex::encode(&Sha256::digest(source.location.as_bytes())[..8]);
        self.cache.join(format!("{key}-{}", source.file_name()))
    }

    /// Drops the cached copy of a remote source, so that the next fetch
    /// goes to the network (a signing key, which its publisher may have
    /// extended or replaced since).
    pub fn forget(&self, source: &Source) {
        if source.local_path().is_none() {
            let _ = std::fs::remove_file(self.cached_path(source));
        }
    }

    /// The file if it can be had without the network: a local path, or a
    /// cached copy that matches the pin. Never creates or removes anything,
    /// so checks (and dry runs) can use it.
    pub fn local_copy(&self, source: &Source) -> Result<Option<Fetched>, FetchError> {
        let (path, local) = match source.local_path() {
            Some(p) => (p, true),
            None => (self.cached_path(source), false),
        };
        if !local && !path.exists() {
            return Ok(None);
        }
        let sha256 = hash_file(&path)?;
        match check(&source.location, source.sha256.as_deref(), &sha256) {
            Ok(()) => Ok(Some(Fetched {
                path,
                sha256,
                downloaded: false,
            })),
            Err(e) if local => Err(e),
            Err(_) => Ok(None),
        }
    }

    pub async fn fetch(&self, source: &Source) -> Result<Fetched, FetchError> {
        if let Some(path) = source.local_path() {
            let sha256 = hash_file(&path)?;
            check(&source.location, source.sha256.as_deref(), &sha256)?;
            return Ok(Fetched {
                path,
                sha256,
                downloaded: false,
            });
        }
        let url = &source.location;
        if url.starts_with("http://") && source.sha256.is_none() {
            return Err(FetchError::InsecureUnpinned { url: url.clone() });
        }
        let cached = self.cached_path(source);
        if cached.exists() {
            let sha256 = hash_file(&cached)?;
            if source.sha256.as_deref().is_none_or(|want| want == sha256) {
                return Ok(Fetched {
                    path: cached,
                    sha256,
                    downloaded: false,
                });
            }
            // A stale or damaged copy: fetch again.
            std::fs::remove_file(&cached).map_err(io(&cached))?;
        }
        std::fs::create_dir_all(&self.cache).map_err(io(&self.cache))?;
        let (tmp, sha256) = self.download(url, source.sha256.is_some()).await?;
        if let Err(e) = check(url, source.sha256.as_deref(), &sha256) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &cached).map_err(io(&cached))?;
        Ok(Fetched {
            path: cached,
            sha256,
            downloaded: true,
        })
    }

    /// Streams `url` into a temporary file in the cache, hashing as it goes.
    async fn download(&self, url: &str, pinned: bool) -> Result<(PathBuf, String), FetchError> {
        let unreachable = |cause| FetchError::Unreachable {
            url: url.to_string(),
            cause,
        };
        let mut response =
            self.client(pinned)?
                .get(url)
                .send()
                .await
                .map_err(|e| match downgrade_of(&e) {
                    Some(to) => FetchError::InsecureRedirect {
                        url: url.to_string(),
                        to,
                    },
                    None => unreachable(e),
                })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let bar = self.progress.then(|| {
            let bar = indicatif::ProgressBar::new(response.content_length().unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .expect("a valid progress template")
                .progress_chars("=> "),
            );
            bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
            bar
        });
        let tmp = self
            .cache
            .join(format!(".partial-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            let mut hasher = Sha256::new();
            while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
                hasher.update(&chunk);
                file.write_all(&chunk).map_err(io(&tmp))?;
                if let Some(b) = &bar {
                    b.inc(chunk.len() as u64);
                }
            }
            file.sync_all().map_err(io(&tmp))?;
            Ok(hex::encode(hasher.finalize()))
        }
        .await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        match result {
            Ok(sha) => Ok((tmp, sha)),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// As many redirects as reqwest's default policy follows.
const MAX_REDIRECTS: usize = 10;

/// A redirect from https to anything else, refused by the unpinned client.
#[derive(Debug, Error)]
#[error("redirect from https to {0}")]
struct Downgrade(String);

fn refuse_downgrades(attempt: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    let secure_before = attempt.previous().iter().any(|u| u.scheme() == "https");
    if secure_before && attempt.url().scheme() != "https" {
        let to = attempt.url().to_string();
        attempt.error(Downgrade(to))
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
    } else {
        attempt.follow()
    }
}

/// The URL a refused downgrade pointed at, from reqwest's error chain.
fn downgrade_of(e: &reqwest::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(d) = c.downcast_ref::<Downgrade>() {
            return Some(d.0.clone());
        }
        cur = c.source();
    }
    None
}

fn check(what: &str, expected: Option<&str>, actual: &str) -> Result<(), FetchError> {
    match expected {
        Some(want) if want != actual => Err(FetchError::Mismatch {
            what: what.to_string(),
            expected: want.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// SHA-256 of a file, in lower-case hex.
pub fn hash_file(path: &Path) -> Result<String, FetchError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
    Ok(hex::encode(hasher.finalize()))
}
