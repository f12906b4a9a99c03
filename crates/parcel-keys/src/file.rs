//! The local key-file provider: `DATA_DIR/keys/root.key` and the
//! key-encryption keys `DATA_DIR/keys/kek/v000001.key`, …, all mode 0600.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::{KeyError, KeyProvider, SecretKey, hkdf_derive};

/// The folder under the data directory that holds key files.
pub const KEY_DIR: &str = "keys";
/// The root key's file name inside [`KEY_DIR`].
pub const ROOT_KEY_FILE: &str = "root.key";

/// The folder under [`KEY_DIR`] holding key-encryption keys.
pub const KEK_DIR: &str = "kek";

const HEADER: &str = "parcelguard-root-key v1";
const KEK_HEADER: &str = "parcelguard-kek v1";

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

/// Creates `data_dir/keys/root.key` and the first key-encryption key with
/// fresh keys, refusing to overwrite an existing root key. Returns the root
/// key file's path.
pub fn init_local(data_dir: &Path) -> Result<PathBuf, KeyError> {
    let dir = data_dir.join(KEY_DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    set_mode(&dir, 0o700)?;
    let path = dir.join(ROOT_KEY_FILE);
    write_new_key(&path, HEADER)?;
    let kek_dir = dir.join(KEK_DIR);
    fs::create_dir_all(&kek_dir).map_err(io_err(&kek_dir))?;
    set_mode(&kek_dir, 0o700)?;
    if list_keks(&kek_dir)?.is_empty() {
        write_new_key(&kek_path(&kek_dir, 1), KEK_HEADER)?;
    }
    Ok(path)
}

/// Writes a fresh random key to `path` (0600, never overwriting), durably.
fn write_new_key(path: &Path, header: &str) -> Result<(), KeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyError::AlreadyExists {
                path: path.display().to_string(),
            });
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let key = SecretKey::generate();
    let body = Zeroizing::new(format!("{header}\n{}\n", key.to_base64().as_str()));
    file.write_all(body.as_bytes()).map_err(io_err(path))?;
    // The key must survive a crash right after the caller reports success.
    file.sync_all().map_err(io_err(path))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<(), KeyError> {
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

fn kek_path(kek_dir: &Path, version: u32) -> PathBuf {
    kek_dir.join(format!("v{version:06}.key"))
}

fn list_keks(kek_dir: &Path) -> Result<Vec<u32>, KeyError> {
    let mut versions = Vec::new();
    let entries = match fs::read_dir(kek_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(versions),
        Err(e) => return Err(io_err(kek_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(kek_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(v) = name
            .strip_prefix('v')
            .and_then(|n| n.strip_suffix(".key"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            versions.push(v);
        }
    }
    versions.sort_unstable();
    Ok(versions)
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
        let root = read_key_file(path, HEADER)?;
        Ok(Self {
            path: path.to_owned(),
            root,
        })
    }

    fn kek_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from(KEK_DIR), |p| p.join(KEK_DIR))
    }

    fn kek(&self, version: u32) -> Result<SecretKey, KeyError> {
        let path = kek_path(&self.kek_dir(), version);
        match read_key_file(&path, KEK_HEADER) {
            Err(KeyError::Missing { .. }) => Err(KeyError::UnknownKek {
                version,
                provider: self.describe(),
            }),
            other => other,
        }
    }
}

/// Reads a key file, checking its permissions and header.
fn read_key_file(path: &Path, header: &str) -> Result<SecretKey, KeyError> {
    {
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
        if lines.next() != Some(header) {
            return Err(KeyError::Malformed {
                location: location(1),
                reason: format!("expected the header `{header}`"),
            });
        }
        let body = lines.next().ok_or_else(|| KeyError::Malformed {
            location: location(2),
            reason: "missing key line".to_owned(),
        })?;
        SecretKey::from_base64(body, &location(2))
    }
}

impl KeyProvider for LocalKeyFile {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    fn derive(&self, purpose: &str) -> Result<SecretKey, KeyError> {
        Ok(hkdf_derive(&self.root, purpose))
    }

    fn kek_versions(&self) -> Result<Vec<u32>, KeyError> {
        list_keks(&self.kek_dir())
    }

    fn create_kek(&self) -> Result<u32, KeyError> {
        let dir = self.kek_dir();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        set_mode(&dir, 0o700)?;
        let next = list_keks(&dir)?.last().copied().unwrap_or(0) + 1;
        write_new_key(&kek_path(&dir, next), KEK_HEADER)?;
        Ok(next)
    }

    fn wrap(&self, version: u32, key: &SecretKey, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        crate::kek::wrap_with(&self.kek(version)?, key, aad)
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretKey, KeyError> {
        crate::kek::unwrap_with(&self.kek(version)?, wrapped, aad)
    }

    fn destroy_kek(&self, version: u32) -> Result<(), KeyError> {
        let path = kek_path(&self.kek_dir(), version);
        // Overwrite before unlinking so the key bytes do not linger in the
        // file's old blocks on file systems that write in place.
        let len = fs::metadata(&path).map_err(io_err(&path))?.len();
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])
            .map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        fs::remove_file(&path).map_err(io_err(&path))?;
        sync_parent(&path)
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
        assert_eq!(
            a.derive("x").unwrap().expose(),
            b.derive("x").unwrap().expose()
        );
        assert_eq!(a.key_id().unwrap(), b.key_id().unwrap());
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
    fn kek_versions_rotate_and_destroy() {
        let dir = tempfile::tempdir().unwrap();
        init_local(dir.path()).unwrap();
        let keys = LocalKeyFile::open(dir.path()).unwrap();
        assert_eq!(keys.kek_versions().unwrap(), vec![1]);
        let dek = SecretKey::generate();
        let w1 = keys.wrap(1, &dek, b"a").unwrap();
        assert_eq!(keys.create_kek().unwrap(), 2);
        assert_eq!(keys.kek_versions().unwrap(), vec![1, 2]);
        let w2 = keys.wrap(2, &dek, b"a").unwrap();
        assert!(
            keys.unwrap(2, &w1, b"a").is_err(),
            "v2 must not open v1's wrap"
        );
        assert_eq!(keys.unwrap(1, &w1, b"a").unwrap().expose(), dek.expose());
        keys.destroy_kek(1).unwrap();
        assert!(matches!(
            keys.unwrap(1, &w1, b"a"),
            Err(KeyError::UnknownKek { version: 1, .. })
        ));
        assert_eq!(keys.unwrap(2, &w2, b"a").unwrap().expose(), dek.expose());
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
