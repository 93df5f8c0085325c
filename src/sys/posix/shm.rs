//! Shared memory segments through `shm_open`: an object under a short random name, unlinked at once
//! (so nothing is left behind and only descriptor holders reach it), sized by one `ftruncate`, mapped
//! shared on a huge page boundary.
//!
//! Resizing: macOS accepts one `ftruncate` of a shared memory object and refuses every later one, so
//! once the daemon has sized a segment no client can shrink it under the daemon's mapping, which is
//! what the seals give on Linux. (Other systems let a later `ftruncate` through; Linux, where this
//! backend only runs its tests, does.)
//!
//! Committing: there is no `fallocate` for shared memory here, so pages come at first touch and
//! [`Segment::commit`] cannot reserve them. Running out of memory is then no clean error at allocation
//! but memory pressure (compression, swap) and, where a page cannot be supplied, a fault — SIGBUS —
//! in whichever process touches it first, the daemon included. Control segments, small and not yet
//! shared when created, are touched page by page at creation instead.

use std::ffi::CString;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::FdFlags;

use crate::sys::mapping::Mapping;

/// The page size pages are touched at; smaller than or equal to every system's page.
const PAGE: usize = 4096;
/// Names tried before giving up on finding a free one.
const NAME_ATTEMPTS: usize = 16;

/// No huge pages of shared memory here: nothing to report.
pub fn shmem_huge_pages() -> Option<String> {
    None
}

/// One shared memory object, mapped, owned by the daemon and shared with one client.
pub struct Segment {
    fd: OwnedFd,
    map: Mapping,
}

impl Segment {
    /// Creates a shared memory object of `size` bytes (`name` is for errors only: the object's own
    /// name is random and gone at once) and maps it read-write shared.
    ///
    /// With `commit` the whole range is touched up front (control segments: small and always used).
    pub fn create(name: &str, size: usize, commit: bool) -> io::Result<Segment> {
        if size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "segment size must be positive"));
        }
        let fd = open_unlinked().map_err(|e| io::Error::new(e.kind(), format!("shared memory for {name}: {e}")))?;
        rustix::fs::ftruncate(&fd, size as u64)?;
        let map = Mapping::new(fd.as_fd(), size)?;
        if commit {
            for at in (0..size).step_by(PAGE) {
                // SAFETY: `at` is inside the mapping, which nobody else holds yet (the descriptor has
                // not been sent), so writing the zero it already holds races with nothing.
                unsafe { map.as_ptr().add(at).write_volatile(0) };
            }
        }
        Ok(Segment { fd, map })
    }

    /// The first byte of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a segment has a positive size.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The shared memory object's descriptor, to pass to the client.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Nothing to do: the size set at creation is all there is to reserve here, and pages come at
    /// first touch (the module's documentation says what that costs). Touching them here would race
    /// with the client writing the blocks that share their pages.
    pub fn commit(&self, offset: u64, len: u64) -> io::Result<()> {
        debug_assert!(offset.saturating_add(len) <= self.len() as u64);
        Ok(())
    }

    /// None: no huge pages of shared memory here.
    pub fn make_huge(&self, _offset: u64, _len: u64) -> io::Result<Option<(u64, u64)>> {
        Ok(None)
    }

    /// Refused (`Unsupported`): there is no way to drop a shared memory object's pages short of
    /// punching a hole, which it does not support; freed pages stay until the segment goes.
    pub fn decommit(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "shared memory pages cannot be returned here"))
    }
}

/// A new shared memory object under a fresh random name, already unlinked; close-on-exec.
fn open_unlinked() -> io::Result<OwnedFd> {
    for _ in 0..NAME_ATTEMPTS {
        let name = random_name();
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        // SAFETY: `name` is a NUL-terminated string that outlives the call; the mode is passed as
        // the variadic argument `O_CREAT` calls for, promoted to an unsigned int as C would.
        let fd = unsafe { libc::shm_open(name.as_ptr(), flags, 0o600 as libc::c_uint) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EEXIST) {
                continue; // someone has this name: draw another
            }
            return Err(e);
        }
        // SAFETY: `shm_open` succeeded, so `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        if unsafe { libc::shm_unlink(name.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // POSIX has `shm_open` set close-on-exec already; set it explicitly all the same.
        rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)?;
        return Ok(fd);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free shared memory name"))
}

/// A name nobody can guess: `/shmcall-` and 16 hex digits, 25 bytes (macOS allows 31).
fn random_name() -> CString {
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    // The standard library's hasher keys are random per process; the counter varies each draw.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(DRAWN.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    CString::new(format!("/shmcall-{:016x}", h.finish())).expect("no NUL in a hex name")
}

// SAFETY: the mapping is plain shared memory; every access goes through raw pointers whose
// synchronisation the protocol defines (SPEC §5), so moving or sharing the handle across threads is sound.
unsafe impl Send for Segment {}
// SAFETY: as above; `Segment` itself has no interior state besides the mapping.
unsafe impl Sync for Segment {}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_the_object_it_maps_and_has_no_name() {
        let seg = Segment::create("test", 3 * 4096 + 100, true).unwrap();
        assert_eq!(seg.len(), 3 * 4096 + 100);
        assert_eq!(rustix::fs::fstat(seg.fd()).unwrap().st_size as usize, seg.len());
        assert!(rustix::io::fcntl_getfd(seg.fd()).unwrap().contains(FdFlags::CLOEXEC));
        // SAFETY: the mapping is ours alone and this long.
        let bytes = unsafe { std::slice::from_raw_parts_mut(seg.as_ptr(), seg.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[seg.len() - 1] = 9;
        let mut back = [0u8; 1];
        rustix::io::pread(seg.fd(), &mut back, seg.len() as u64 - 1).unwrap();
        assert_eq!(back, [9], "the mapping is the object's memory");
        seg.commit(0, 4096).unwrap();
        assert_eq!(seg.make_huge(0, seg.len() as u64).unwrap(), None);
        assert_eq!(seg.decommit(0, 4096).unwrap_err().kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn names_differ_and_fit_macos() {
        let (a, b) = (random_name(), random_name());
        assert_ne!(a, b);
        assert_eq!(a.as_bytes().len(), 25);
    }

    #[cfg(target_vendor = "apple")]
    #[test]
    fn the_size_cannot_change_once_set() {
        let seg = Segment::create("test", 1 << 16, false).unwrap();
        assert!(rustix::fs::ftruncate(seg.fd(), 4096).is_err(), "shrink must be refused");
        assert!(rustix::fs::ftruncate(seg.fd(), 1 << 20).is_err(), "grow must be refused");
    }
}
