//! Where audit streams deliver: appending JSON lines to a file (synced before the cursor moves,
//! rotated by size), and POSTing a signed batch to a webhook.
//!
//! Owns: the file's rotation and its repair after a crash, and the HTTP exchange with a
//! receiver (2xx acknowledges). Must not: choose what is delivered, sign, or touch the store
//! (`services::streams` does).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A file over this size is rotated before the next batch is appended.
pub const ROTATE_BYTES: u64 = 64 * 1024 * 1024;
/// Rotated files kept: `path.1` (the newest) to `path.5`; older ones are deleted.
pub const ROTATED_KEPT: u32 = 5;
/// How long a receiver has to answer a batch.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Appends `lines` (whole lines, each ending in `\n`) to the file at `path` and syncs it to disk
/// before returning, so an acknowledged batch survives a crash. A file already at `rotate_at`
/// bytes is renamed to `path.1` first (the older ones move up, `path.{ROTATED_KEPT}` is dropped).
/// A last line without its `\n` is what a crash mid-append left: it was never acknowledged, and
/// is cut off (the batch it belonged to is appended again).
pub fn append_lines(path: &Path, lines: &[u8], rotate_at: u64) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.len() >= rotate_at => rotate(path)?,
        Ok(_) | Err(_) => {}
    }
    let mut file = OpenOptions::new().create(true).read(true).append(true).mode(0o640).open(path)?;
    cut_partial_line(&mut file)?;
    file.write_all(lines)?;
    file.sync_data()?;
    if let Some(dir) = path.parent() {
        // A new file's directory entry must be durable too.
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn rotate(path: &Path) -> io::Result<()> {
    for n in (1..ROTATED_KEPT).rev() {
        let from = rotated(path, n);
        if from.exists() {
            fs::rename(&from, rotated(path, n + 1))?;
        }
    }
    fs::rename(path, rotated(path, 1))
}

/// Truncates `file` after its last `\n` (or to empty when it holds none).
fn cut_partial_line(file: &mut File) -> io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut end = len;
    let mut chunk = vec![0_u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let size = usize::try_from(end - start).unwrap_or(chunk.len());
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk[..size])?;
        if let Some(at) = chunk[..size].iter().rposition(|&b| b == b'\n') {
            let keep = start + at as u64 + 1;
            if keep != len {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    file.set_len(0)
}

/// POSTs `body` (a JSON array) to `url` with `headers`; `Ok` when the receiver answered 2xx.
/// The error says what happened (a status, a timeout, a refused connection), never a header.
pub async fn post_batch(
    http: &reqwest::Client,
    url: &str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Result<(), String> {
    let mut request =
        http.post(url).timeout(WEBHOOK_TIMEOUT).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the receiver answered {}", response.status())),
        Err(err) if err.is_timeout() => {
            Err(format!("the receiver did not answer within {}s", WEBHOOK_TIMEOUT.as_secs()))
        }
        Err(err) if err.is_connect() => Err("cannot connect to the receiver".into()),
        Err(_) => Err("the request to the receiver failed".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn appends_cuts_a_torn_line_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        append_lines(&path, b"{\"id\":1}\n", 1024).unwrap();
        fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"id\":2,\"tor").unwrap();
        append_lines(&path, b"{\"id\":2}\n", 1024).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"id\":1}\n{\"id\":2}\n");

        for i in 0..7 {
            append_lines(&path, format!("{i}\n").as_bytes(), 1).unwrap();
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), "6\n");
        assert_eq!(fs::read_to_string(rotated(&path, 1)).unwrap(), "5\n");
        assert_eq!(fs::read_to_string(rotated(&path, 5)).unwrap(), "1\n");
        assert!(!rotated(&path, 6).exists(), "only {ROTATED_KEPT} are kept");
    }

    #[test]
    fn a_file_without_any_line_end_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        fs::write(&path, vec![b'x'; 20_000]).unwrap();
        append_lines(&path, b"a\n", ROTATE_BYTES).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\n");
    }
}
