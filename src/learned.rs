//! Setup secrets: the signing secret some vendors hand over once, in the handshake that opens a
//! webhook (Asana's `X-Hook-Secret`, Notion's `verification_token`), kept for a route that opts in with
//! `learn_secret = "PATH"`.
//!
//! The first secret a handshake brings is written to PATH, readable by the gateway's user only
//! (0600), fsynced with its directory, and read back at every start; it is never logged. A later
//! handshake with the same secret is answered as before; one with another secret is refused, so a
//! caller who finds the URL cannot replace the route's key. To take a new secret (the webhook was
//! deleted and created again), the operator removes the file and reloads. This module knows nothing
//! about routes, handshakes or status codes.

use crate::secret::Secret;
use arc_swap::ArcSwapOption;
use constant_time_eq::constant_time_eq;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The longest secret a handshake may set; vendors' are tens of bytes.
const MAX_LEN: usize = 1024;

/// A route's setup secret: none yet, or the one a handshake brought.
#[derive(Debug)]
pub struct Learned {
    path: PathBuf,
    current: ArcSwapOption<Secret>,
    /// Writers take turns, so two handshakes racing cannot both win.
    writing: Mutex<()>,
}

/// What a handshake's secret did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learning {
    /// It was the first, and is now the route's.
    Stored,
    /// It is the one the route already holds (the vendor retried its handshake).
    Same,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearnError {
    #[error("the route already holds another setup secret")]
    Taken,
    #[error("the handshake's secret is empty, longer than {MAX_LEN} bytes, or not text")]
    Unfit,
    #[error("the setup secret could not be stored: {0}")]
    Io(String),
}

impl Learned {
    /// Reads the secret at `path` when one was stored; otherwise the route waits for its handshake.
    /// The directory must exist, so that the first handshake can be stored.
    pub fn open(path: &Path) -> Result<Learned, String> {
        let dir = parent(path);
        if !dir.is_dir() {
            return Err(format!(
                "the directory {} does not exist; create it (writable by the gateway's user only)",
                dir.display()
            ));
        }
        let current = match std::fs::read(path) {
            Ok(bytes) => {
                let text = trim_line_end(&bytes);
                if !fit(text) {
                    return Err(format!(
                        "{} does not hold a setup secret (empty or too long); remove it so the next handshake stores one",
                        path.display()
                    ));
                }
                Some(Arc::new(Secret::new(text.to_vec())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("{} cannot be read: {e}", path.display())),
        };
        Ok(Learned {
            path: path.to_path_buf(),
            current: ArcSwapOption::new(current),
            writing: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secret, once a handshake brought one.
    pub fn current(&self) -> Option<Arc<Secret>> {
        self.current.load_full()
    }

    /// Takes the secret a handshake brought: stored when it is the first, accepted again when it is
    /// the same, refused when the route holds another. Blocking (it writes and fsyncs a file).
    pub fn learn(&self, value: &[u8]) -> Result<Learning, LearnError> {
        if !fit(value) {
            return Err(LearnError::Unfit);
        }
        let _turn = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = self.current() {
            return if constant_time_eq(held.expose(), value) {
                Ok(Learning::Same)
            } else {
                Err(LearnError::Taken)
            };
        }
        let io = |e: std::io::Error| LearnError::Io(e.to_string());
        // Written whole to a file of its own, then linked into place: the link fails if the path
        // exists (another process, or an operator, put a secret there), and a crash leaves either
        // no secret or the whole one.
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        let written = file
            .write_all(value)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::hard_link(&tmp, &self.path));
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return match std::fs::read(&self.path) {
                    Ok(held) if constant_time_eq(trim_line_end(&held), value) => {
                        self.current
                            .store(Some(Arc::new(Secret::new(value.to_vec()))));
                        Ok(Learning::Same)
                    }
                    Ok(_) => Err(LearnError::Taken),
                    Err(e) => Err(io(e)),
                };
            }
            Err(e) => return Err(io(e)),
        }
        std::fs::File::open(parent(&self.path))
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        self.current
            .store(Some(Arc::new(Secret::new(value.to_vec()))));
        Ok(Learning::Stored)
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn fit(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_LEN && value.iter().all(|b| b.is_ascii_graphic())
}

/// A file written by hand may end in a newline; the secret does not.
fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hookgate-learned-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rand_suffix() -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now())
    }

    #[test]
    fn the_first_secret_is_stored_privately_and_no_other_replaces_it() {
        let d = dir();
        let path = d.join("asana.secret");
        let learned = Learned::open(&path).unwrap();
        assert!(learned.current().is_none());
        assert_eq!(learned.learn(b"first-secret"), Ok(Learning::Stored));
        assert_eq!(std::fs::read(&path).unwrap(), b"first-secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(learned.learn(b"first-secret"), Ok(Learning::Same));
        assert_eq!(learned.learn(b"another"), Err(LearnError::Taken));
        assert_eq!(learned.current().unwrap().expose(), b"first-secret");
        // Read back at the next start, even with a newline an operator added.
        std::fs::write(&path, "first-secret\n").unwrap();
        let again = Learned::open(&path).unwrap();
        assert_eq!(again.current().unwrap().expose(), b"first-secret");
        assert_eq!(again.learn(b"another"), Err(LearnError::Taken));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_secret_put_there_by_someone_else_meanwhile_is_not_overwritten() {
        let d = dir();
        let path = d.join("s");
        let learned = Learned::open(&path).unwrap();
        std::fs::write(&path, "operator-set").unwrap();
        assert_eq!(learned.learn(b"handshake"), Err(LearnError::Taken));
        assert_eq!(std::fs::read(&path).unwrap(), b"operator-set");
        assert_eq!(learned.learn(b"operator-set"), Ok(Learning::Same));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unfit_secrets_and_missing_directories_are_refused() {
        let d = dir();
        let learned = Learned::open(&d.join("s")).unwrap();
        assert_eq!(learned.learn(b""), Err(LearnError::Unfit));
        assert_eq!(learned.learn(b"has space"), Err(LearnError::Unfit));
        assert_eq!(learned.learn(&[b'a'; 2000]), Err(LearnError::Unfit));
        assert!(learned.current().is_none());
        let err = Learned::open(&d.join("missing/s")).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        std::fs::write(d.join("empty"), "").unwrap();
        assert!(Learned::open(&d.join("empty")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
