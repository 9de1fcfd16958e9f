//! The sandbox's `stdout` and `stderr`, where the container's output goes,
//! bounded in size: past the limit a file is renamed to `stdout.1` (older
//! ones shift to `.2`, …, the oldest beyond the count is dropped) and a fresh
//! one is started, as Mesos' logrotate container logger does.

use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

/// How much output a sandbox keeps per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes per file before it is rotated.
    pub max_size: u64,
    /// Rotated files kept beside the live one.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size: 10 << 20,
            keep: 5,
        }
    }
}

pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl RotatingFile {
    pub async fn open(path: &Path, rotation: Rotation) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let size = file.metadata().await?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + data.len() as u64 > self.rotation.max_size {
            self.rotate().await?;
        }
        self.file.write_all(data).await?;
        self.size += data.len() as u64;
        Ok(())
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().await
    }

    async fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.rotation.keep == 0 {
            tokio::fs::remove_file(&self.path).await?;
        } else {
            for n in (1..self.rotation.keep).rev() {
                match tokio::fs::rename(numbered(n), numbered(n + 1)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            tokio::fs::rename(&self.path, numbered(1)).await?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await?;
        self.size = 0;
        Ok(())
    }
}

/// Parses stout's byte sizes as the agent's flags write them: `10MB`, `512KB`,
/// `1GB`, `100B` (binary multiples, as stout's Bytes).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{t}` has no unit; write e.g. 10MB"))?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{t}` does not start with a number"))?;
    let mult: u64 = match unit {
        "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        other => return Err(format!("unknown unit `{other}`; use B, KB, MB, GB or TB")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{t}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("10MB"), Ok(10 << 20));
        assert_eq!(parse_bytes("512KB"), Ok(512 << 10));
        assert_eq!(parse_bytes("7B"), Ok(7));
        for bad in ["10", "MB", "10mb", "1.5MB", "10 MB"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn files_rotate_at_the_limit_and_the_oldest_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stdout");
        let rotation = Rotation {
            max_size: 10,
            keep: 2,
        };
        let mut f = RotatingFile::open(&path, rotation).await.unwrap();
        for chunk in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            f.write(chunk.as_bytes()).await.unwrap();
        }
        f.flush().await.unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        assert_eq!(read("stdout"), "dddddddd\n");
        assert_eq!(read("stdout.1"), "cccccccc\n");
        assert_eq!(read("stdout.2"), "bbbbbbbb\n");
        assert!(
            !dir.path().join("stdout.3").exists(),
            "only `keep` rotated files"
        );

        // Reopening continues from the file's size.
        let mut again = RotatingFile::open(&path, rotation).await.unwrap();
        again.write(b"e").await.unwrap();
        again.flush().await.unwrap();
        assert_eq!(read("stdout"), "dddddddd\ne");
    }
}
