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
        out.push(fingerprint_of(body)?);
    }
    if out.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(out)
}

/// A primary key and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLife {
    pub fingerprint: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// Seconds since the epoch; `None`: never. From the newest
    /// self-signature, as gpg reads it.
    pub expires: Option<u64>,
}

const SIGNATURE: u8 = 2;
const USER_ID: u8 = 13;
const SUB_CREATED: u8 = 2;
const SUB_KEY_EXPIRES: u8 = 9;
const SUB_ISSUER: u8 = 16;
const SUB_ISSUER_FPR: u8 = 33;

/// Each primary key with its expiry: the key-expiration subpacket of its
/// newest self-signature over a user ID (or over the key itself). A
/// publisher that extends a key re-signs it with a later expiry, so the
/// newest one is what counts.
pub fn key_lives(data: &[u8]) -> Result<Vec<KeyLife>, KeyError> {
    let binary = dearmor(data)?;
    let mut out: Vec<KeyLife> = Vec::new();
    // (creation of the newest self-signature seen, its expiry offset)
    let mut newest: Option<(u64, Option<u64>)> = None;
    let mut in_primary = false;
    let finish = |out: &mut Vec<KeyLife>, newest: Option<(u64, Option<u64>)>| {
        if let (Some(k), Some((_, Some(offset)))) = (out.last_mut(), newest)
            && offset > 0
        {
            k.expires = Some(k.created + offset);
        }
    };
    for (tag, body) in packets(&binary)? {
        match tag {
            PUBLIC_KEY => {
                finish(&mut out, newest.take());
                let fingerprint = fingerprint_of(body)?;
                let created = body
                    .get(1..5)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
                    .ok_or_else(|| KeyError::Malformed("a public-key packet too short".into()))?;
                out.push(KeyLife {
                    fingerprint,
                    created,
                    expires: None,
                });
                in_primary = true;
            }
            // Subkeys and their bindings say nothing of the primary's expiry.
            14 => in_primary = false,
            USER_ID => {}
            SIGNATURE if in_primary => {
                let Some(key) = out.last() else { continue };
                if let Some(sig) = self_signature(body, &key.fingerprint)
                    && newest.is_none_or(|(t, _)| sig.0 >= t)
                {
                    newest = Some(sig);
                }
            }
            _ => {}
        }
    }
    finish(&mut out, newest);
    if out.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(out)
}

fn fingerprint_of(body: &[u8]) -> Result<String, KeyError> {
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
    Ok(hex::encode_upper(h.finalize()))
}

/// A v4 self-signature (certification 0x10–0x13 or direct-key 0x1F, issued
/// by the key itself): its creation time and key-expiration offset. Other
/// signatures (third-party certifications) are `None`. The signature's
/// cryptography is not checked: apt checks what it signs, and an expiry
/// read here only ever makes setup refuse sooner.
fn self_signature(body: &[u8], fingerprint: &str) -> Option<(u64, Option<u64>)> {
    if body.first() != Some(&4) || !matches!(body.get(1)?, 0x10..=0x13 | 0x1f) {
        return None;
    }
    let hashed_len = u16::from_be_bytes([*body.get(4)?, *body.get(5)?]) as usize;
    let hashed = body.get(6..6 + hashed_len)?;
    let rest = body.get(6 + hashed_len..)?;
    let unhashed_len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let unhashed = rest.get(2..2 + unhashed_len)?;
    let key_id = &fingerprint[24..];
    let (mut created, mut expires, mut ours) = (None, None, false);
    for (area, trusted) in [(hashed, true), (unhashed, false)] {
        for (kind, data) in subpackets(area)? {
            match kind {
                SUB_CREATED if trusted && data.len() == 4 => {
                    created = Some(u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as u64)
                }
                SUB_KEY_EXPIRES if trusted && data.len() == 4 => {
                    expires = Some(u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as u64)
                }
                SUB_ISSUER => ours |= hex::encode_upper(data) == key_id,
                SUB_ISSUER_FPR => {
                    ours |= data.len() == 21 && hex::encode_upper(&data[1..]) == fingerprint
                }
                _ => {}
            }
        }
    }
    ours.then_some((created?, expires))
}

/// (type, data) of each subpacket in a signature's subpacket area.
fn subpackets(mut area: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !area.is_empty() {
        let first = area[0] as usize;
        let (len, skip) = match first {
            0..=191 => (first, 1),
            192..=254 => (((first - 192) << 8) + *area.get(1)? as usize + 192, 2),
            _ => (
                u32::from_be_bytes([*area.get(1)?, *area.get(2)?, *area.get(3)?, *area.get(4)?])
                    as usize,
                5,
            ),
        };
        let body = area.get(skip..skip + len)?;
        let (kind, data) = body.split_first()?;
        out.push((kind & 0x7f, data));
        area = &area[skip + len..];
    }
    Some(out)
}

/// `YYYY-MM-DD` (UTC) of seconds since the epoch.
pub fn date(secs: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// How a pin is shown: a fingerprint in gpg's groups of four.
pub fn spaced(fingerprint: &str) -> String {
    fingerprint
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What to say of a key that expired; `None` while it is valid at `now`.
pub fn expired(life: &KeyLife, url: &str, now: u64) -> Option<String> {
    let at = life.expires.filter(|e| *e <= now)?;
    Some(format!(
        "the signing key {} from {url} expired on {} (UTC): apt refuses a repository signed with it. A publisher extends an expiring key by publishing it again with a later expiry: run setup again once {url} serves the extended key (setup fetches an expired key anew), or name another source",
        spaced(&life.fingerprint),
        date(at)
    ))
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

    /// A v4 positive certification by `fpr`'s key, made at `at`, with a
    /// key-expiration offset when given; the issuer fingerprint unhashed.
    fn self_sig(fpr: &str, at: u32, expires: Option<u32>) -> Vec<u8> {
        let mut hashed = vec![5, SUB_CREATED];
        hashed.extend(at.to_be_bytes());
        if let Some(e) = expires {
            hashed.extend([5, SUB_KEY_EXPIRES]);
            hashed.extend(e.to_be_bytes());
        }
        let mut unhashed = vec![22, SUB_ISSUER_FPR, 4];
        unhashed.extend(hex::decode(fpr).unwrap());
        let mut b = vec![4, 0x13, 1, 8];
        b.extend((hashed.len() as u16).to_be_bytes());
        b.extend(&hashed);
        b.extend((unhashed.len() as u16).to_be_bytes());
        b.extend(&unhashed);
        b.extend([0xab, 0xcd, 0x00, 0x08, 0xff]); // hash left bits, one MPI
        b
    }

    fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc0 | tag, body.len() as u8];
        p.extend(body);
        p
    }

    #[test]
    fn expiry_comes_from_the_newest_self_signature() {
        // key_body's creation time is 0x5f000000.
        let key = key_body(0xc1);
        let f = fp(&key);
        let created = 0x5f00_0000u64;
        let year = 365 * 86_400;
        type Sigs<'a> = &'a [(u32, Option<u32>)];
        let cases: &[(Sigs, Option<u64>)] = &[
            (&[], None),
            (&[(0x5f00_0010, None)], None),
            (&[(0x5f00_0010, Some(year as u32))], Some(created + year)),
            // Extended later: the newer signature wins, in either order.
            (
                &[
                    (0x5f00_0010, Some(year as u32)),
                    (0x6000_0000, Some(3 * year as u32)),
                ],
                Some(created + 3 * year),
            ),
            (
                &[
                    (0x6000_0000, Some(3 * year as u32)),
                    (0x5f00_0010, Some(year as u32)),
                ],
                Some(created + 3 * year),
            ),
            // Zero means "never expires".
            (&[(0x5f00_0010, Some(0))], None),
        ];
        for (sigs, want) in cases {
            let mut file = packet(PUBLIC_KEY, &key);
            file.extend(packet(USER_ID, b"t <t@example>"));
            for (at, e) in *sigs {
                file.extend(packet(SIGNATURE, &self_sig(&f, *at, *e)));
            }
            let lives = key_lives(&file).unwrap();
            assert_eq!(lives.len(), 1);
            assert_eq!(lives[0].fingerprint, f);
            assert_eq!(lives[0].expires, *want, "{sigs:?}");
        }
        // Another key's certification of this one says nothing of it.
        let other = fp(&key_body(0xc2));
        let mut file = packet(PUBLIC_KEY, &key);
        file.extend(packet(USER_ID, b"t"));
        file.extend(packet(SIGNATURE, &self_sig(&other, 0x6000_0000, Some(1))));
        assert_eq!(key_lives(&file).unwrap()[0].expires, None);
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        for (secs, want) in [
            (0, "1970-01-01"),
            (0x5F7183F5, "2020-09-28"),
            (1_790_553_600, "2026-09-28"),
            (951_782_400, "2000-02-29"),
        ] {
            assert_eq!(date(secs), want, "{secs}");
        }
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
