//! The offline spool: undeliverable batches as files in a bounded directory.
//!
//! Modelled on Microsoft's `LocalFileStorage` (protocol reference section 6), with a
//! format that detects torn or corrupt files:
//!
//! - a batch is written to `<stem>.blob.tmp` (created exclusively, mode 0600), `fsync`ed,
//!   then renamed to its leased name `<stem>.blob@<lease-until-ms>.lock` (or `<stem>.blob`
//!   without a lease), and the directory is `fsync`ed: a crash mid-write leaves at most a
//!   `.tmp` file, which is never read and is deleted once stale;
//! - `<stem>` is `<created-unix-ms, 13 digits>-<16 hex random>`, so names sort by age;
//! - a lease whose time has passed makes the batch available again (after a restart too);
//! - the content is a header line, each item as `<len>\n<bytes>\n`, and a trailer with the
//!   item count and an FNV-1a 64 checksum ([`encode`]/[`decode`]); a file that does not
//!   decode is deleted and counted, never sent.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Spool size bound: 50 MiB, Microsoft's `storage_max_size` default.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Spool retention: 48 h, Microsoft's `storage_retention_period` default.
pub const DEFAULT_SPOOL_RETENTION: Duration = Duration::from_secs(48 * 3600);
/// A `.tmp` file older than this is a dead write and is deleted (Microsoft: 60 s).
pub const STALE_TMP: Duration = Duration::from_secs(60);

const MAGIC: &[u8] = b"tracing-insights-spool 1\n";

/// A parsed spool file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobName {
    /// Creation time, Unix milliseconds.
    pub created_ms: u64,
    /// Random id.
    pub id: u64,
    /// Lease expiry, Unix milliseconds, for `.lock` files.
    pub lease_until_ms: Option<u64>,
    /// A write in progress (or a dead one).
    pub tmp: bool,
}

impl BlobName {
    /// `<created>-<id>` (the part every state shares).
    pub fn stem(&self) -> String {
        format!("{:013}-{:016x}", self.created_ms, self.id)
    }

    /// The file name for this state.
    pub fn file_name(&self) -> String {
        match (self.tmp, self.lease_until_ms) {
            (true, _) => format!("{}.blob.tmp", self.stem()),
            (false, Some(until)) => format!("{}.blob@{until:013}.lock", self.stem()),
            (false, None) => format!("{}.blob", self.stem()),
        }
    }
}

/// Parses a spool file name; `None` for anything else. Never panics.
pub fn parse_name(name: &str) -> Option<BlobName> {
    let (stem, tmp, lease_until_ms) = if let Some(s) = name.strip_suffix(".blob.tmp") {
        (s, true, None)
    } else if let Some(s) = name.strip_suffix(".lock") {
        let (stem, until) = s.split_once(".blob@")?;
        (stem, false, Some(digits(until)?))
    } else {
        (name.strip_suffix(".blob")?, false, None)
    };
    let (created, id) = stem.split_once('-')?;
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(BlobName {
        created_ms: digits(created)?,
        id: u64::from_str_radix(id, 16).ok()?,
        lease_until_ms,
        tmp,
    })
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn fnv1a(data: &[u8], mut h: u64) -> u64 {
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Encodes a batch as a spool file's content.
pub fn encode(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 12).sum::<usize>() + 64);
    out.extend_from_slice(MAGIC);
    let mut h = 0xcbf2_9ce4_8422_2325;
    for item in items {
        out.extend_from_slice(format!("{}\n", item.len()).as_bytes());
        out.extend_from_slice(item);
        out.push(b'\n');
        h = fnv1a(item, fnv1a(&(item.len() as u64).to_le_bytes(), h));
    }
    out.extend_from_slice(format!("end {} {h:016x}\n", items.len()).as_bytes());
    out
}

/// Decodes a spool file's content; `None` if it is torn or corrupt. Never panics.
pub fn decode(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut rest = data.strip_prefix(MAGIC)?;
    let mut items = Vec::new();
    let mut h = 0xcbf2_9ce4_8422_2325;
    loop {
        let nl = rest.iter().position(|b| *b == b'\n')?;
        let line = std::str::from_utf8(&rest[..nl]).ok()?;
        rest = &rest[nl + 1..];
        if let Some(trailer) = line.strip_prefix("end ") {
            // Byte for byte as `encode` writes it: a parse would also accept `+1` or an
            // upper-case digit, so a changed file could pass for the original.
            let ok = rest.is_empty() && trailer == format!("{} {h:016x}", items.len());
            return ok.then_some(items);
        }
        let len: usize = line.parse().ok()?;
        if line != len.to_string() {
            return None; // not canonical (`+5`, `05`): not what `encode` wrote
        }
        if len >= rest.len() || rest[len] != b'\n' {
            return None;
        }
        let item = rest[..len].to_vec();
        rest = &rest[len + 1..];
        h = fnv1a(&item, fnv1a(&(len as u64).to_le_bytes(), h));
        items.push(item);
    }
}

/// How spool files are written; replaced in tests to inject write failures (a full or
/// read-only disk), since tests run as root and `chmod` proves nothing.
pub(crate) trait SpoolIo: Send + Sync {
    /// Creates `path` exclusively and writes `bytes` durably.
    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

#[derive(Debug)]
pub(crate) struct RealIo;

impl SpoolIo for RealIo {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    }
}

/// Why a batch could not be spooled.
#[derive(Debug)]
pub(crate) enum PutError {
    Full,
    Io(io::Error),
}

/// A batch taken from the spool under a lease.
#[derive(Debug)]
pub(crate) struct Leased {
    pub(crate) path: PathBuf,
    pub(crate) name: BlobName,
    pub(crate) items: Vec<Vec<u8>>,
}

pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    retention: Duration,
    io: Arc<dyn SpoolIo>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Spool {
    pub(crate) fn open(
        dir: PathBuf,
        max_bytes: u64,
        retention: Duration,
        io: Arc<dyn SpoolIo>,
    ) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            // As Microsoft's storage: refuse a directory owned by another user (a predictable
            // name under a shared temp dir could be planted), unless owned by root. Our uid is
            // read from a probe file, which also proves the directory is writable.
            let probe = dir.join(format!(".probe-{:016x}", fastrand::u64(..)));
            let created = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe);
            let ours = created.and_then(|f| f.metadata()).map(|m| m.uid());
            let _ = fs::remove_file(&probe);
            let owner = fs::metadata(&dir)?.uid();
            if owner != ours? && owner != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the directory belongs to another user",
                ));
            }
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        }
        Ok(Self {
            dir,
            max_bytes,
            retention,
            io,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn entries(&self) -> Vec<(BlobName, PathBuf, u64)> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<_> = rd
            .filter_map(|e| {
                let e = e.ok()?;
                let name = parse_name(e.file_name().to_str()?)?;
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                Some((name, e.path(), len))
            })
            .collect();
        v.sort_by_key(|e| (e.0.created_ms, e.0.id));
        v
    }

    /// Stores a batch under a lease of `lease` (zero: available at once). Returns the
    /// batch's id (its file name's random part).
    pub(crate) fn put(&self, items: &[Vec<u8>], lease: Duration) -> Result<u64, PutError> {
        let bytes = encode(items);
        let used: u64 = self.entries().iter().map(|e| e.2).sum();
        if used + bytes.len() as u64 > self.max_bytes {
            return Err(PutError::Full);
        }
        let mut name = BlobName {
            created_ms: now_ms(),
            id: fastrand::u64(..),
            lease_until_ms: None,
            tmp: true,
        };
        let tmp = self.dir.join(name.file_name());
        if let Err(e) = self.io.write_new(&tmp, &bytes) {
            let _ = fs::remove_file(&tmp);
            return Err(PutError::Io(e));
        }
        name.tmp = false;
        name.lease_until_ms = (!lease.is_zero()).then(|| now_ms().saturating_add(ms(lease)));
        let dst = self.dir.join(name.file_name());
        if let Err(e) = fs::rename(&tmp, &dst) {
            let _ = fs::remove_file(&tmp);
            return Err(PutError::Io(e));
        }
        sync_dir(&self.dir);
        Ok(name.id)
    }

    /// Deletes dead `.tmp` files and batches past retention. Returns the items deleted
    /// (counted as [`Expired`](crate::DropReason::Expired)).
    #[cfg(test)]
    pub(crate) fn maintain(&self) -> u64 {
        self.maintain_with(&mut |_| {})
    }

    /// As [`maintain`](Self::maintain), calling `expired_item` with each item of an expired
    /// batch (a corrupt file counts as one item, not passed).
    pub(crate) fn maintain_with(&self, expired_item: &mut dyn FnMut(&[u8])) -> u64 {
        let now = now_ms();
        let mut expired = 0;
        for (name, path, _) in self.entries() {
            if name.tmp {
                if name.created_ms.saturating_add(ms(STALE_TMP)) < now {
                    let _ = fs::remove_file(&path);
                }
            } else if name.created_ms.saturating_add(ms(self.retention)) < now {
                expired += fs::read(&path)
                    .ok()
                    .and_then(|d| decode(&d))
                    .map_or(1, |items| {
                        items.iter().for_each(|i| expired_item(i));
                        items.len() as u64
                    });
                let _ = fs::remove_file(&path);
            }
        }
        expired
    }

    /// When the next batch becomes available (`Some(past)` if one is available now).
    pub(crate) fn next_available(&self) -> Option<SystemTime> {
        self.entries()
            .iter()
            .filter(|e| !e.0.tmp)
            .map(|e| UNIX_EPOCH + Duration::from_millis(e.0.lease_until_ms.unwrap_or(0)))
            .min()
    }

    /// Number of batches stored (any state but `.tmp`).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().iter().filter(|e| !e.0.tmp).count()
    }

    /// Takes the oldest available batch under a lease of `lease`. Corrupt files are
    /// deleted; their count is added to `corrupt`.
    #[cfg(test)]
    pub(crate) fn take(&self, lease: Duration, corrupt: &mut u64) -> Option<Leased> {
        self.take_own(lease, corrupt, &[])
    }

    /// As [`take`](Self::take), also taking the batches whose ids are in `own` while their
    /// lease runs: this process wrote them, and a lease only keeps other processes away.
    pub(crate) fn take_own(
        &self,
        lease: Duration,
        corrupt: &mut u64,
        own: &[u64],
    ) -> Option<Leased> {
        let now = now_ms();
        for (name, path, _) in self.entries() {
            let leased_away = name.lease_until_ms.is_some_and(|u| u > now);
            if name.tmp || (leased_away && !own.contains(&name.id)) {
                continue;
            }
            let mut leased = name.clone();
            leased.lease_until_ms = Some(now.saturating_add(ms(lease)));
            let dst = self.dir.join(leased.file_name());
            // Another process may have taken it first: then the rename fails; skip it.
            if fs::rename(&path, &dst).is_err() {
                continue;
            }
            match fs::read(&dst).ok().and_then(|d| decode(&d)) {
                Some(items) => {
                    return Some(Leased {
                        path: dst,
                        name: leased,
                        items,
                    })
                }
                None => {
                    *corrupt += 1;
                    let _ = fs::remove_file(&dst);
                }
            }
        }
        None
    }

    /// Puts a taken batch back under a new lease.
    pub(crate) fn release(&self, mut leased: Leased, lease: Duration) {
        leased.name.lease_until_ms = Some(now_ms().saturating_add(ms(lease)));
        let _ = fs::rename(&leased.path, self.dir.join(leased.name.file_name()));
    }

    /// Deletes a delivered (or given-up) batch.
    pub(crate) fn delete(&self, leased: Leased) {
        let _ = fs::remove_file(&leased.path);
        sync_dir(&self.dir);
    }
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tis-spool-unit-{tag}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trip_lease_release_delete() {
        let dir = tmpdir("rt");
        let s = Spool::open(
            dir.clone(),
            1 << 20,
            DEFAULT_SPOOL_RETENTION,
            Arc::new(RealIo),
        )
        .unwrap();
        s.put(&[b"a".to_vec(), b"b\nc".to_vec()], Duration::ZERO)
            .unwrap();
        s.put(&[b"later".to_vec()], Duration::from_secs(60))
            .unwrap();
        assert_eq!(s.len(), 2);
        let mut corrupt = 0;
        let l = s.take(Duration::from_secs(15), &mut corrupt).unwrap();
        assert_eq!(l.items, vec![b"a".to_vec(), b"b\nc".to_vec()]);
        assert!(
            s.take(Duration::from_secs(15), &mut corrupt).is_none(),
            "both leased"
        );
        s.release(l, Duration::ZERO);
        let l = s.take(Duration::from_secs(15), &mut corrupt).unwrap();
        s.delete(l);
        assert_eq!(s.len(), 1);
        assert_eq!(corrupt, 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn torn_and_corrupt_files_are_never_sent_and_never_harm_the_rest() {
        let dir = tmpdir("torn");
        let s = Spool::open(
            dir.clone(),
            1 << 20,
            DEFAULT_SPOOL_RETENTION,
            Arc::new(RealIo),
        )
        .unwrap();
        s.put(&[b"good".to_vec()], Duration::ZERO).unwrap();
        let full = encode(&[b"x".to_vec(), b"y".to_vec()]);
        // A crash between write and rename: a .tmp file (ignored).
        fs::write(
            dir.join("0000000000001-00000000000000aa.blob.tmp"),
            &full[..10],
        )
        .unwrap();
        // A torn .blob (what a non-atomic writer would leave): detected and deleted.
        fs::write(
            dir.join("0000000000002-00000000000000bb.blob"),
            &full[..full.len() - 3],
        )
        .unwrap();
        let mut corrupt = 0;
        let l = s.take(Duration::from_secs(5), &mut corrupt).unwrap();
        assert_eq!(l.items, vec![b"good".to_vec()]);
        assert_eq!(corrupt, 1);
        s.delete(l);
        assert_eq!(s.maintain(), 0);
        assert!(
            fs::read_dir(&dir).unwrap().next().is_none(),
            "stale tmp removed"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn full_spool_refuses() {
        let dir = tmpdir("full");
        let s = Spool::open(dir.clone(), 100, DEFAULT_SPOOL_RETENTION, Arc::new(RealIo)).unwrap();
        assert!(s.put(&[vec![b'x'; 10]], Duration::ZERO).is_ok());
        assert!(matches!(
            s.put(&[vec![b'x'; 60]], Duration::ZERO),
            Err(PutError::Full)
        ));
        fs::remove_dir_all(dir).unwrap();
    }
}
