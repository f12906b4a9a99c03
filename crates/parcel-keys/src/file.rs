//! The local key-file provider: `DATA_DIR/keys/root.key`, mode 0600.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::{KeyError, KeyProvider, SecretKey, hkdf_derive};

/// The folder under the data directory that holds key files.
pub const KEY_DIR: &str = "keys";
/// The root key's file name inside [`KEY_DIR`].
pub const ROOT_KEY_FILE: &str = "root.key";

const HEADER: &str = "parcelguard-root-key v1";

/// A root key kept in a file that only its owner can read.
#[derive(Debug)]
pub struct LocalKeyFile {
    path: PathBuf,
    root: SecretKey,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `data_dir/keys/root.key` with a fresh key, refusing to overwrite an
/// existing one. Returns the key file's path.
pub fn init_local(data_dir: &Path) -> Result<PathBuf, KeyError> {
    let dir = data_dir.join(KEY_DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    set_mode(&dir, 0o700)?;
    let path = dir.join(ROOT_KEY_FILE);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyError::AlreadyExists {
                path: path.display().to_string(),
            });
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    let key = SecretKey::generate();
    let body = Zeroizing::new(format!("{HEADER}\n{}\n", key.to_base64().as_str()));
    file.write_all(body.as_bytes()).map_err(io_err(&path))?;
    // The key must survive a crash right after `init` reports success.
    file.sync_all().map_err(io_err(&path))?;
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))?;
    Ok(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), KeyError> {
    Ok(())
}

impl LocalKeyFile {
    /// Opens the root key under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, KeyError> {
        Self::open_file(&data_dir.join(KEY_DIR).join(ROOT_KEY_FILE))
    }

    /// Opens a root key file by path, checking that no one else can read it.
    pub fn open_file(path: &Path) -> Result<Self, KeyError> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing {
                    path: path.display().to_string(),
                });
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.display().to_string(),
                    mode,
                });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io_err(path))?);
        let mut lines = text.lines();
        let location = |line: usize| format!("{}:{line}", path.display());
        if lines.next() != Some(HEADER) {
            return Err(KeyError::Malformed {
                location: location(1),
                reason: format!("expected the header `{HEADER}`"),
            });
        }
        let body = lines.next().ok_or_else(|| KeyError::Malformed {
            location: location(2),
            reason: "missing key line".to_owned(),
        })?;
        let root = SecretKey::from_base64(body, &location(2))?;
        Ok(Self {
            path: path.to_owned(),
            root,
        })
    }
}

impl KeyProvider for LocalKeyFile {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn derive(&self, purpose: &str) -> SecretKey {
        hkdf_derive(&self.root, purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_0600_key_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = init_local(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let before = fs::read(&path).unwrap();
        let err = init_local(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::AlreadyExists { .. }));
        assert_eq!(
            fs::read(&path).unwrap(),
            before,
            "existing key must be untouched"
        );

        let a = LocalKeyFile::open(dir.path()).unwrap();
        let b = LocalKeyFile::open(dir.path()).unwrap();
        assert_eq!(a.derive("x").expose(), b.derive("x").expose());
        assert_eq!(a.key_id(), b.key_id());
    }

    #[cfg(unix)]
    #[test]
    fn open_rejects_group_readable_key() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = init_local(dir.path()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = LocalKeyFile::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("0600"), "{err}");
    }

    #[test]
    fn malformed_file_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = init_local(dir.path()).unwrap();
        fs::write(&path, "parcelguard-root-key v1\nnot-base64!\n").unwrap();
        let err = LocalKeyFile::open_file(&path).unwrap_err().to_string();
        assert!(err.contains("root.key:2"), "{err}");
        let missing = LocalKeyFile::open(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, KeyError::Missing { .. }));
    }
}
