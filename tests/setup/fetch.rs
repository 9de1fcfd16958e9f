//! Downloads as setup makes them, against a real local mirror: HTTPS with a
//! test CA, plain HTTP only when pinned, the cache, and digest mismatches.

use crate::support;

use std::fs;

use mesos_docker::setup::apply::fetch::{FetchError, Fetcher, Source, hash_file};
use support::mirror::{Server, tls};

fn mirror(files: &[(&str, &[u8])], https: bool) -> (tempfile::TempDir, Server) {
    let root = tempfile::tempdir().unwrap();
    support::mirror::make_readable_by_all(root.path());
    for (name, data) in files {
        fs::write(root.path().join(name), data).unwrap();
    }
    let server = Server::start(root.path(), https, None);
    (root, server)
}

fn sha(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

fn gets(server: &Server, name: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains(&format!("/{name} ")))
        .count()
}

#[tokio::test]
async fn https_downloads_are_verified_and_cached() {
    let payload = b"a mesos package, honest".repeat(1000);
    let (_root, server) = mirror(&[("mesos_1.11.0.deb", &payload)], true);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), Some(&tls().ca), false).unwrap();
    let url = format!("{}/mesos_1.11.0.deb", server.url());
    let source = Source::new(&url, Some(&sha(&payload))).unwrap();

    let first = fetcher.fetch(&source).await.unwrap();
    assert!(first.downloaded);
    assert_eq!(fs::read(&first.path).unwrap(), payload);
    assert_eq!(first.sha256, sha(&payload));

    let again = fetcher.fetch(&source).await.unwrap();
    assert!(!again.downloaded, "a re-run downloads nothing");
    assert_eq!(again.path, first.path);
    assert_eq!(gets(&server, "mesos_1.11.0.deb"), 1);
    let leftovers: Vec<_> = fs::read_dir(cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[tokio::test]
async fn a_mismatch_names_both_digests_and_keeps_nothing() {
    let payload = b"tampered".to_vec();
    let (_root, server) = mirror(&[("marathon.tgz", &payload)], true);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), Some(&tls().ca), false).unwrap();
    let pinned = sha(b"the real thing");
    let source = Source::new(&format!("{}/marathon.tgz", server.url()), Some(&pinned)).unwrap();
    let err = fetcher.fetch(&source).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, FetchError::Mismatch { .. }));
    assert!(
        text.contains(&pinned) && text.contains(&sha(&payload)),
        "{text}"
    );
    assert_eq!(
        fs::read_dir(cache.path()).unwrap().count(),
        0,
        "nothing kept"
    );
}

#[tokio::test]
async fn plain_http_needs_a_pin() {
    let payload = b"over plain http".to_vec();
    let (_root, server) = mirror(&[("f.deb", &payload)], false);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), None, false).unwrap();
    let url = format!("{}/f.deb", server.url());
    let err = fetcher
        .fetch(&Source::new(&url, None).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InsecureUnpinned { .. }), "{err}");
    assert_eq!(gets(&server, "f.deb"), 0, "refused before any request");
    let ok = fetcher
        .fetch(&Source::new(&url, Some(&sha(&payload))).unwrap())
        .await
        .unwrap();
    assert_eq!(fs::read(ok.path).unwrap(), payload);
}

#[tokio::test]
async fn an_unknown_certificate_authority_is_refused() {
    let (_root, server) = mirror(&[("f.deb", b"x")], true);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), None, false).unwrap();
    let err = fetcher
        .fetch(&Source::new(&format!("{}/f.deb", server.url()), None).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("cannot download"), "{err}");
}

#[tokio::test]
async fn missing_files_and_bad_pins_are_clear() {
    let (_root, server) = mirror(&[], true);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), Some(&tls().ca), false).unwrap();
    let err = fetcher
        .fetch(&Source::new(&format!("{}/nope.deb", server.url()), None).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("answered 404"), "{err}");
    let err = Source::new("https://x/y", Some("abc")).unwrap_err();
    assert!(err.to_string().contains("not a SHA-256 digest"), "{err}");
}

#[tokio::test]
async fn local_files_for_air_gapped_sites_are_verified_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mesos.deb");
    fs::write(&file, b"local bytes").unwrap();
    let fetcher = Fetcher::new(&dir.path().join("cache"), None, false).unwrap();
    let good = Source::new(file.to_str().unwrap(), Some(&sha(b"local bytes"))).unwrap();
    let got = fetcher.fetch(&good).await.unwrap();
    assert_eq!(
        (got.path.as_path(), got.downloaded),
        (file.as_path(), false)
    );
    assert_eq!(hash_file(&file).unwrap(), sha(b"local bytes"));
    let bad = Source::new(&format!("file://{}", file.display()), Some(&sha(b"other"))).unwrap();
    assert!(matches!(
        fetcher.fetch(&bad).await,
        Err(FetchError::Mismatch { .. })
    ));
}

/// An HTTPS mirror answering 302 to a plain-HTTP URL: an unpinned download
/// would then trust bytes anyone on the path could change, so it is refused
/// before the plain URL is asked; a pinned one follows, since the pin
/// decides.
#[tokio::test]
async fn a_redirect_from_https_to_http_needs_a_pin() {
    let payload = b"served over plain http after a redirect".to_vec();
    let (_plain_root, plain) = mirror(&[("f.deb", &payload)], false);
    let secure_root = tempfile::tempdir().unwrap();
    support::mirror::make_readable_by_all(secure_root.path());
    let secure = Server::start(secure_root.path(), true, Some(plain.port));
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), Some(&tls().ca), false).unwrap();
    let url = format!("{}/redirect-http/f.deb", secure.url());

    let err = fetcher
        .fetch(&Source::new(&url, None).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InsecureRedirect { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains(&format!("{}/f.deb", plain.url())),
        "{text}"
    );
    assert_eq!(gets(&plain, "f.deb"), 0, "the plain URL was never asked");
    assert_eq!(
        fs::read_dir(cache.path()).unwrap().count(),
        0,
        "nothing kept"
    );

    let ok = fetcher
        .fetch(&Source::new(&url, Some(&sha(&payload))).unwrap())
        .await
        .unwrap();
    assert_eq!(fs::read(ok.path).unwrap(), payload);
    assert_eq!(gets(&plain, "f.deb"), 1);
}
