//! Just enough OpenPGP (RFC 4880) to check an apt signing key against a
//! pinned fingerprint: ASCII armor, packet framing, and the v4 fingerprint
//! (SHA-1 over 0x99, a two-octet length and the public-key packet body).
//!
//! Why not rpgp or sequoia: this binary is also the executor that runs
//! beside every task, and its resident-memory target (8 MiB) leaves no room
//! for a full OpenPGP stack and its crypto backends, while setup needs
//! none of their signing or verification: apt itself verifies the
//! repository's signatures with the keyring written here.

use base64::Engine;
use sha1::{Digest, Sha1};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("it is not an OpenPGP public key (neither armored nor binary packets): {0}")]
    Malformed(String),
    #[error(
        "it holds a version {0} key; only version 4 keys (what apt repositories use) can be checked here"
    )]
    Version(u8),
    #[error("it holds no public key")]
    Empty,
}

const PUBLIC_KEY: u8 = 6;

/// The key file as binary packets: armored text is decoded, binary kept.
pub fn dearmor(data: &[u8]) -> Result<Vec<u8>, KeyError> {
    let text = match std::str::from_utf8(data) {
        Ok(t) if t.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") => t,
        _ => return Ok(data.to_vec()),
    };
    let mut lines = text
        .lines()
        .map(str::trim_end)
        .skip_while(|l| *l != "-----BEGIN PGP PUBLIC KEY BLOCK-----")
        .skip(1);
    // Armor headers (Version:, Comment:) end at the first blank line.
    let mut body = String::new();
    let mut in_headers = true;
    for l in lines.by_ref() {
        if l.starts_with("-----END PGP PUBLIC KEY BLOCK") {
            break;
        }
        if in_headers {
            if l.is_empty() {
                in_headers = false;
            } else if !l.contains(": ") {
                // No headers at all: this line is data already.
                in_headers = false;
                body.push_str(l);
            }
            continue;
        }
        if l.starts_with('=') && l.len() == 5 {
            // The CRC-24 checksum line: SHA-1 over the key catches more.
            continue;
        }
        body.push_str(l.trim());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| KeyError::Malformed(format!("bad base64 in the armor: {e}")))
}

/// (tag, body) of each packet.
fn packets(data: &[u8]) -> Result<Vec<(u8, &[u8])>, KeyError> {
    let mut out = Vec::new();
    let mut i = 0;
    let short = || KeyError::Malformed("a packet runs past the end of the file".into());
    while i < data.len() {
        let head = data[i];
        if head & 0x80 == 0 {
            return Err(KeyError::Malformed(format!(
                "byte {i} is not a packet header"
            )));
        }
        let (tag, len, skip) = if head & 0x40 != 0 {
            let tag = head & 0x3f;
            let first = *data.get(i + 1).ok_or_else(short)? as usize;
            match first {
                0..=191 => (tag, first, 2),
                192..=223 => {
                    let second = *data.get(i + 2).ok_or_else(short)? as usize;
                    (tag, ((first - 192) << 8) + second + 192, 3)
                }
                255 => {
                    let b = data.get(i + 2..i + 6).ok_or_else(short)?;
                    (
                        tag,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                        6,
                    )
                }
                _ => {
                    return Err(KeyError::Malformed(
                        "partial body lengths do not occur in key files".into(),
                    ));
                }
            }
        } else {
            let tag = (head >> 2) & 0x0f;
            match head & 3 {
                0 => (tag, *data.get(i + 1).ok_or_else(short)? as usize, 2),
                1 => {
                    let b = data.get(i + 1..i + 3).ok_or_else(short)?;
                    (tag, u16::from_be_bytes([b[0], b[1]]) as usize, 3)
                }
                2 => {
                    let b = data.get(i + 1..i + 5).ok_or_else(short)?;
                    (
                        tag,
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                        5,
                    )
                }
                _ => (tag, data.len() - i - 1, 1),
            }
        };
        let start = i + skip;
        let body = data.get(start..start + len).ok_or_else(short)?;
        out.push((tag, body));
        i = start + len;
    }
    Ok(out)
}

/// The upper-case hex v4 fingerprints of the primary keys in a key file.
pub fn primary_fingerprints(data: &[u8]) -> Result<Vec<String>, KeyError> {
    let binary = dearmor(data)?;
    let mut out = Vec::new();
    for (tag, body) in packets(&binary)? {
        if tag != PUBLIC_KEY {
            continue;
        }
        match body.first() {
            Some(4) => {}
            Some(v) => return Err(KeyError::Version(*v)),
            None => return Err(KeyError::Malformed("an empty public-key packet".into())),
        }
        let len = u16::try_from(body.len())
            .map_err(|_| KeyError::Malformed("a public-key packet over 64 KiB".into()))?;
        let mut h = Sha1::new();
        h.update([0x99]);
        h.update(len.to_be_bytes());
        h.update(body);
        out.push(hex::encode_upper(h.finalize()));
    }
    if out.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(out)
}

/// The key file's primary keys that are not pinned; empty when all are.
pub fn unpinned(data: &[u8], pins: &[String]) -> Result<Vec<String>, KeyError> {
    Ok(primary_fingerprints(data)?
        .into_iter()
        .filter(|fp| !pins.iter().any(|p| p.eq_ignore_ascii_case(fp)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v4 public-key packet body: version, time, algorithm (RSA), n, e.
    fn key_body(seed: u8) -> Vec<u8> {
        let mut b = vec![4, 0x5f, 0, 0, 0, 1];
        b.extend([0x00, 0x10, seed, 0x01]); // 16-bit MPI n
        b.extend([0x00, 0x11, 0x01, 0x00, 0x01]); // e = 65537
        b
    }

    fn fp(body: &[u8]) -> String {
        let mut h = Sha1::new();
        h.update([0x99, 0, body.len() as u8]);
        h.update(body);
        hex::encode_upper(h.finalize())
    }

    #[test]
    fn new_and_old_packet_formats_and_armor() {
        let (a, b) = (key_body(0xc1), key_body(0xc2));
        let mut file = vec![0xc6, a.len() as u8];
        file.extend(&a);
        // A user id in the old format, then the second key, old format too.
        file.extend([0xb4, 3, b'a', b'b', b'c']);
        file.extend([0x98, b.len() as u8]);
        file.extend(&b);
        // A subkey (tag 14) does not count as a primary key.
        file.extend([0xce, a.len() as u8]);
        file.extend(&a);
        assert_eq!(primary_fingerprints(&file).unwrap(), vec![fp(&a), fp(&b)]);

        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n{}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            base64::engine::general_purpose::STANDARD.encode(&file)
        );
        assert_eq!(dearmor(armored.as_bytes()).unwrap(), file);
        assert_eq!(
            unpinned(armored.as_bytes(), &[fp(&a).to_lowercase()]).unwrap(),
            vec![fp(&b)]
        );
        assert!(unpinned(&file, &[fp(&a), fp(&b)]).unwrap().is_empty());
    }

    #[test]
    fn other_versions_and_junk_are_refused() {
        let mut v5 = key_body(1);
        v5[0] = 5;
        let mut file = vec![0xc6, v5.len() as u8];
        file.extend(&v5);
        assert_eq!(primary_fingerprints(&file), Err(KeyError::Version(5)));
        assert!(
            KeyError::Version(6)
                .to_string()
                .contains("only version 4 keys")
        );
        assert!(matches!(
            primary_fingerprints(b"<html>not found</html>"),
            Err(KeyError::Malformed(_))
        ));
        assert_eq!(primary_fingerprints(&[0xb4, 1, b'x']), Err(KeyError::Empty));
        assert!(matches!(
            primary_fingerprints(&[0xc6, 50, 4]),
            Err(KeyError::Malformed(_))
        ));
    }
}
