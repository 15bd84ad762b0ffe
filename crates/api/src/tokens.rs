//! The token file: every API token of a data directory, kept as the SHA-256
//! of its secret in `<data-dir>/tokens.json` (mode 0600, replaced atomically
//! by writing a temporary file and renaming it). `chainsleuth tokens` writes
//! it; a running server re-reads it within a second of a change
//! ([`TokenRegistry`]), so new and revoked tokens need no restart.
//!
//! Secrets are made here ([`TokenFile::create`]), shown once, and never
//! stored. Revoked tokens stay in the file (with the time of revocation) so
//! that `tokens list` and the audit log keep naming them; their names are
//! never reused. Matching a presented secret is [`crate::auth`]'s job.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::auth::{Role, Token};

/// The token file's name in the data directory.
pub const TOKENS_FILE: &str = "tokens.json";
/// What every secret made by [`TokenFile::create`] starts with, so that a
/// leaked one is recognisable (and redacted from audit records).
pub const SECRET_PREFIX: &str = "cs_";
/// Random bytes in a secret (256 bits).
const SECRET_BYTES: usize = 32;
/// The longest token name.
pub const MAX_NAME_LEN: usize = 64;
/// The version of the file's layout.
const FILE_VERSION: u32 = 1;
/// How long a writer waits for another writer's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// A lock file older than this was left by a writer that died.
const STALE_LOCK: Duration = Duration::from_secs(30);
/// How often a server looks at the file for changes.
const RECHECK: Duration = Duration::from_millis(500);

/// What went wrong with the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The file is not a token file of this version.
    #[error("token file {path} is damaged: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Another `chainsleuth tokens` held the lock for too long.
    #[error("token file {0} is locked by another writer (remove {0}.lock if none is running)")]
    Locked(PathBuf),
    /// The name is empty, too long or has characters other than letters,
    /// digits, `.`, `_` and `-`.
    #[error("token name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-'")]
    BadName(String),
    /// A token (live or revoked) already has this name.
    #[error("token name {0:?} is taken (names of revoked tokens are not reused)")]
    NameTaken(String),
    /// No token has this name.
    #[error("no token named {0:?}")]
    UnknownName(String),
    /// The token is revoked already.
    #[error("token {0:?} is already revoked")]
    AlreadyRevoked(String),
}

/// A file operation that failed: what was being done, to which path.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}")]
pub struct IoError {
    /// What was being done.
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// One token as `tokens list` shows it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's name (in the audit log too).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
}

/// A row of the file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    role: Role,
    /// Hex SHA-256 of the secret.
    sha256: String,
    created: String,
    revoked: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    version: u32,
    tokens: Vec<Entry>,
}

/// The token file of one data directory.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

/// Checks a token name.
///
/// # Errors
/// [`TokenError::BadName`].
pub fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::BadName(name.to_owned()))
    }
}

/// A new random secret: [`SECRET_PREFIX`] and 32 random bytes in
/// unpadded base64url (46 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `time` as RFC 3339 in UTC, to the second.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

impl TokenFile {
    /// The token file of `data_dir`.
    pub fn in_dir(data_dir: &Path) -> TokenFile {
        TokenFile { path: data_dir.join(TOKENS_FILE) }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes a token called `name` with `role`, stores its hash and returns
    /// the secret: the only time it is ever shown.
    ///
    /// # Errors
    /// A bad or taken name, or the file cannot be read or written.
    pub fn create(&self, name: &str, role: Role) -> Result<String, TokenError> {
        check_name(name)?;
        let secret = new_secret();
        self.add(&Token::named(name, role, &secret).expect("generated secrets are long and have no whitespace"))?;
        Ok(secret)
    }

    /// Stores `token` (for servers built in tests from known secrets). A
    /// token already stored under the same name with the same hash is left
    /// as it is.
    ///
    /// # Errors
    /// A bad or taken name, or the file cannot be read or written.
    pub fn add(&self, token: &Token) -> Result<(), TokenError> {
        check_name(token.name())?;
        self.update(|entries| {
            let sha256 = hex::encode(token.secret_hash());
            if let Some(old) = entries.iter().find(|e| e.name == token.name()) {
                return if old.sha256 == sha256 && old.role == token.role() && old.revoked.is_none() {
                    Ok(false)
                } else {
                    Err(TokenError::NameTaken(token.name().to_owned()))
                };
            }
            entries.push(Entry {
                name: token.name().to_owned(),
                role: token.role(),
                sha256,
                created: rfc3339(SystemTime::now()),
                revoked: None,
            });
            Ok(true)
        })
    }

    /// Revokes the token called `name`: a running server refuses it (and
    /// its web sessions) within a second.
    ///
    /// # Errors
    /// No such token, already revoked, or the file cannot be read or written.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        self.update(|entries| {
            let entry =
                entries.iter_mut().find(|e| e.name == name).ok_or_else(|| TokenError::UnknownName(name.to_owned()))?;
            if entry.revoked.is_some() {
                return Err(TokenError::AlreadyRevoked(name.to_owned()));
            }
            entry.revoked = Some(rfc3339(SystemTime::now()));
            Ok(true)
        })
    }

    /// Every token, live and revoked, oldest first.
    ///
    /// # Errors
    /// The file cannot be read or is damaged.
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self
            .read()?
            .into_iter()
            .map(|e| TokenInfo { name: e.name, role: e.role, created: e.created, revoked: e.revoked })
            .collect())
    }

    /// The live (not revoked) tokens.
    ///
    /// # Errors
    /// The file cannot be read or is damaged.
    pub fn live(&self) -> Result<Vec<Token>, TokenError> {
        self.read()?
            .into_iter()
            .filter(|e| e.revoked.is_none())
            .map(|e| {
                let hash = hex::decode(&e.sha256).ok().and_then(|h| <[u8; 32]>::try_from(h).ok());
                let hash = hash.ok_or_else(|| self.corrupt(format!("token {:?} has a bad sha256", e.name)))?;
                Ok(Token::from_hash(&e.name, e.role, hash))
            })
            .collect()
    }

    fn corrupt(&self, why: String) -> TokenError {
        TokenError::Corrupt { path: self.path.clone(), why }
    }

    /// The file's entries; none when it does not exist yet.
    fn read(&self) -> Result<Vec<Entry>, TokenError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(IoError { action: "reading", path: self.path.clone(), source }.into()),
        };
        let body: FileBody = serde_json::from_str(&text).map_err(|err| self.corrupt(err.to_string()))?;
        if body.version != FILE_VERSION {
            return Err(self.corrupt(format!("version {} (this build reads {FILE_VERSION})", body.version)));
        }
        Ok(body.tokens)
    }

    /// Applies `change` to the entries under the writers' lock and replaces
    /// the file when it says something changed.
    fn update(&self, change: impl FnOnce(&mut Vec<Entry>) -> Result<bool, TokenError>) -> Result<(), TokenError> {
        let _lock = WriteLock::take(&self.path)?;
        let mut entries = self.read()?;
        if change(&mut entries)? {
            self.replace(&FileBody { version: FILE_VERSION, tokens: entries })?;
        }
        Ok(())
    }

    /// Writes `body` to a temporary file (0600) beside the real one, syncs
    /// it and renames it over the real one.
    fn replace(&self, body: &FileBody) -> Result<(), TokenError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let io = |action, source| TokenError::from(IoError { action, path: self.path.clone(), source });
        std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
        let temp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp).map_err(|e| io("creating a temporary file beside", e))?;
        let text = serde_json::to_vec_pretty(body).expect("token entries serialise to JSON");
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| io("writing", e))?;
        std::fs::rename(&temp, &self.path).map_err(|e| io("replacing", e))?;
        if let Ok(dir) = std::fs::File::open(dir) {
            // Makes the rename itself durable; a failure leaves the file correct.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// The writers' lock: `tokens.json.lock`, created exclusively and removed
/// on drop. Readers need no lock since the file is replaced by rename.
struct WriteLock(PathBuf);

impl WriteLock {
    fn take(file: &Path) -> Result<WriteLock, TokenError> {
        let path = file.with_extension("json.lock");
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(WriteLock(path)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|age| age > STALE_LOCK) {
                        let _ = std::fs::remove_file(&path);
                    } else if Instant::now() > deadline {
                        return Err(TokenError::Locked(file.to_owned()));
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(|source| IoError {
                        action: "creating the directory of",
                        path: path.clone(),
                        source,
                    })?;
                }
                Err(source) => return Err(IoError { action: "locking", path: file.to_owned(), source }.into()),
            }
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The live tokens of a running server: the token file's, re-read when the
/// file changes (looked at no more than every half second, on use).
#[derive(Debug)]
pub struct TokenRegistry {
    file: TokenFile,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    checked: Instant,
    /// What the file looked like when last read: (length, modified, inode).
    seen: Option<(u64, SystemTime, u64)>,
    tokens: Arc<[Token]>,
}

fn fingerprint(path: &Path) -> Option<(u64, SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok()?, inode))
}

impl TokenRegistry {
    /// The registry of `data_dir`'s token file, read now.
    ///
    /// # Errors
    /// The file cannot be read or is damaged.
    pub fn open(data_dir: &Path) -> Result<TokenRegistry, TokenError> {
        let file = TokenFile::in_dir(data_dir);
        let seen = fingerprint(file.path());
        let tokens = file.live()?.into();
        Ok(TokenRegistry { file, cache: Mutex::new(Cache { checked: Instant::now(), seen, tokens }) })
    }

    /// The live tokens, re-read first when the file changed. A file that
    /// became unreadable keeps the last good set (and says so in the log).
    pub fn live(&self) -> Arc<[Token]> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.checked.elapsed() >= RECHECK {
            cache.checked = Instant::now();
            let seen = fingerprint(self.file.path());
            if seen != cache.seen {
                match self.file.live() {
                    Ok(tokens) => {
                        tracing::info!(live = tokens.len(), "token file changed: reloaded");
                        cache.tokens = tokens.into();
                        cache.seen = seen;
                    }
                    Err(err) => tracing::error!(error = %err, "token file unreadable: keeping the tokens read before"),
                }
            }
        }
        Arc::clone(&cache.tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_revoke_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_dir(dir.path());
        assert!(file.list().unwrap().is_empty());
        let secret = file.create("ops", Role::Admin).unwrap();
        assert!(secret.starts_with(SECRET_PREFIX) && secret.len() == 46, "{secret}");
        assert_ne!(secret, file.create("analyst", Role::Read).unwrap());
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(!text.contains(&secret[3..]), "the file holds hashes only");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(file.create("ops", Role::Read), Err(TokenError::NameTaken(_))));
        assert!(matches!(file.create("bad name", Role::Read), Err(TokenError::BadName(_))));
        assert_eq!(file.live().unwrap().len(), 2);
        file.revoke("ops").unwrap();
        assert!(matches!(file.revoke("ops"), Err(TokenError::AlreadyRevoked(_))));
        assert!(matches!(file.revoke("nobody"), Err(TokenError::UnknownName(_))));
        let list = file.list().unwrap();
        assert_eq!(
            list.iter().map(|t| (t.name.as_str(), t.revoked.is_some())).collect::<Vec<_>>(),
            [("ops", true), ("analyst", false)]
        );
        assert_eq!(file.live().unwrap().iter().map(Token::name).collect::<Vec<_>>(), ["analyst"]);
        assert!(!file.path().with_extension("json.lock").exists());
    }

    #[test]
    fn the_registry_sees_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_dir(dir.path());
        let registry = TokenRegistry::open(dir.path()).unwrap();
        assert!(registry.live().is_empty());
        file.create("late", Role::Trace).unwrap();
        std::thread::sleep(RECHECK);
        assert_eq!(registry.live().iter().map(Token::name).collect::<Vec<_>>(), ["late"]);
        std::fs::write(file.path(), "not json").unwrap();
        std::thread::sleep(RECHECK);
        assert_eq!(registry.live().len(), 1, "a damaged file keeps the last good set");
    }
}
