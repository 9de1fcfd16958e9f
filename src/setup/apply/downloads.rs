//! Downloads for one run: every file a source names comes through here and
//! [`fetch`](super::fetch), so its pin is checked before it is used.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::setup::apply::change::{ResourceError, blank};
use crate::setup::apply::fetch::{self, Fetched, Fetcher, Source};
use crate::setup::host::system::System;
use crate::setup::record::{Entry, Kind, Manifest};
use crate::setup::sources::Artifact;

/// Downloads for this run: one client and runtime, made on first use (a
/// converged node fetches nothing it has not cached).
pub struct Downloads {
    cache_host: String,
    cache: PathBuf,
    ca: Option<PathBuf>,
    progress: bool,
    fetcher: OnceCell<Fetcher>,
    runtime: OnceCell<tokio::runtime::Runtime>,
}

impl Downloads {
    pub fn new(sys: &System, ca: Option<&Path>, progress: bool) -> Self {
        Downloads {
            cache_host: fetch::DEFAULT_CACHE.to_owned(),
            cache: sys.path(fetch::DEFAULT_CACHE),
            ca: ca.map(Path::to_path_buf),
            progress,
            fetcher: OnceCell::new(),
            runtime: OnceCell::new(),
        }
    }

    fn fetcher(&self) -> Result<&Fetcher, ResourceError> {
        if let Some(f) = self.fetcher.get() {
            return Ok(f);
        }
        let f = Fetcher::new(&self.cache, self.ca.as_deref(), self.progress)
            .map_err(ResourceError::from)?;
        Ok(self.fetcher.get_or_init(|| f))
    }

    /// The file without the network (a local path, or a cached copy that
    /// matches its pin), for checks: `None` when it would be downloaded.
    pub fn local(&self, a: &Artifact) -> Result<Option<Fetched>, ResourceError> {
        let source = Source::new(&a.location, a.sha256.as_deref()).map_err(ResourceError::from)?;
        self.fetcher()?
            .local_copy(&source)
            .map_err(ResourceError::from)
    }

    /// The file from its source, never a cached copy: for signing keys,
    /// which change or get extended at the same URL.
    pub fn get_fresh(
        &self,
        sys: &System,
        a: &Artifact,
        manifest: &mut Manifest,
    ) -> Result<Fetched, ResourceError> {
        let source = Source::new(&a.location, a.sha256.as_deref()).map_err(ResourceError::from)?;
        self.fetcher()?.forget(&source);
        self.get(sys, a, manifest)
    }

    /// The file, verified against its pin. The cache directory is recorded
    /// when setup creates it, so uninstall takes it away with the rest.
    pub fn get(
        &self,
        sys: &System,
        a: &Artifact,
        manifest: &mut Manifest,
    ) -> Result<Fetched, ResourceError> {
        let source = Source::new(&a.location, a.sha256.as_deref()).map_err(ResourceError::from)?;
        let remote = a.location.starts_with("http://") || a.location.starts_with("https://");
        if remote && !self.cache.exists() {
            manifest.record(Entry {
                created: true,
                ..blank(&self.cache_host, Kind::Tree)
            });
            manifest.save(sys).map_err(ResourceError::from)?;
        }
        let fetcher = self.fetcher()?;
        let rt = match self.runtime.get() {
            Some(r) => r,
            None => {
                let r = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ResourceError::Runtime)?;
                self.runtime.get_or_init(|| r)
            }
        };
        rt.block_on(fetcher.fetch(&source))
            .map_err(ResourceError::from)
    }
}
