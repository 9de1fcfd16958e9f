//! The shared libraries an ELF program or library needs (DT_NEEDED) and the
//! name it answers to (DT_SONAME), read the way the dynamic loader reads
//! them: through the program headers (PT_DYNAMIC, and PT_LOAD to map the
//! string table's address to a file offset), so a stripped file with no
//! section headers reads the same. Little-endian ELF64 only: the machines
//! Mesos 1.11 is built for (x86_64, aarch64). About a hundred lines, so no
//! crate: `goblin` or `object` would parse every other format besides.

/// What the dynamic section names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    pub needed: Vec<String>,
    pub soname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not a little-endian 64-bit ELF file (this setup reads x86_64 and aarch64 builds)")]
    Unsupported,
    #[error("a malformed ELF file: {0}")]
    Malformed(&'static str),
}

/// Whether the bytes start like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_SONAME: u64 = 14;

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// `None` for an ELF file without a dynamic section (static programs).
pub fn dynamic(b: &[u8]) -> Result<Option<Dynamic>, ElfError> {
    use ElfError::Malformed;
    if !is_elf(b) {
        return Err(Malformed("no ELF magic"));
    }
    // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err(ElfError::Unsupported);
    }
    let phoff = u64_at(b, 0x20).ok_or(Malformed("short header"))? as usize;
    let phentsize = u16_at(b, 0x36).ok_or(Malformed("short header"))? as usize;
    let phnum = u16_at(b, 0x38).ok_or(Malformed("short header"))? as usize;
    if phentsize < 56 {
        return Err(Malformed("program header entries too small"));
    }
    let mut segments = Vec::with_capacity(phnum);
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let field = |off| u64_at(b, at + off).ok_or(Malformed("program header out of the file"));
        segments.push(Segment {
            kind: u32_at(b, at).ok_or(Malformed("program header out of the file"))?,
            offset: field(8)?,
            vaddr: field(16)?,
            filesz: field(32)?,
        });
    }
    let Some(dynseg) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(None);
    };
    let mut entries = Vec::new();
    let mut strtab = None;
    let start = dynseg.offset as usize;
    for i in 0..(dynseg.filesz as usize / 16) {
        let tag = u64_at(b, start + i * 16).ok_or(Malformed("dynamic section out of the file"))?;
        let val =
            u64_at(b, start + i * 16 + 8).ok_or(Malformed("dynamic section out of the file"))?;
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(val),
            DT_NEEDED | DT_SONAME => entries.push((tag, val)),
            _ => {}
        }
    }
    let strtab = strtab.ok_or(Malformed("no string table"))?;
    let load = segments
        .iter()
        .find(|s| s.kind == PT_LOAD && s.vaddr <= strtab && strtab < s.vaddr + s.filesz)
        .ok_or(Malformed("the string table is in no loaded segment"))?;
    let strings = (strtab - load.vaddr + load.offset) as usize;
    let string = |off: u64| -> Result<String, ElfError> {
        let from = strings + off as usize;
        let rest = b.get(from..).ok_or(Malformed("a name out of the file"))?;
        let end = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or(Malformed("an unterminated name"))?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let mut d = Dynamic::default();
    for (tag, val) in entries {
        let s = string(val)?;
        if tag == DT_NEEDED {
            d.needed.push(s);
        } else {
            d.soname = Some(s);
        }
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real program of this host: the test binary itself needs libc.
    #[test]
    fn reads_a_real_program() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let d = dynamic(&me).unwrap().expect("a dynamic program");
        assert!(d.needed.iter().any(|n| n.starts_with("libc.so")), "{d:?}");
        assert_eq!(d.soname, None);
    }

    #[test]
    fn reads_a_real_library() {
        let libc = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .expect("libc is installed");
        let d = dynamic(&libc).unwrap().unwrap();
        assert_eq!(d.soname.as_deref(), Some("libc.so.6"));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(
            dynamic(b"\x7fELF\x01\x01\x01\0").unwrap_err(),
            ElfError::Unsupported
        );
        assert!(matches!(
            dynamic(b"#!/bin/sh\n"),
            Err(ElfError::Malformed(_))
        ));
        let mut truncated = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        truncated.truncate(100);
        assert!(matches!(dynamic(&truncated), Err(ElfError::Malformed(_))));
    }
}
