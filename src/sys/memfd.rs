//! Shared memory segments: a memfd sized once, sealed against shrinking and growing, mapped shared.
//!
//! Why memfd and not `/dev/shm` names: nothing is left behind when a process dies, the region is
//! passed to exactly the peer it is meant for, and the seals mean a peer can never shrink the file
//! under the daemon's mapping (which would turn the daemon's next access into SIGBUS).
//!
//! Pages are committed with `fallocate` when a heap block is handed out ([`Segment::commit`]) so
//! running out of memory is an `ENOSPC`/`ENOMEM` error at allocation, never a SIGBUS at first touch.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FallocateFlags, MemfdFlags, SealFlags};

/// The kernel's huge page policy for shared memory (`never`, `within_size`, `always`, ...), if it has
/// one. Under `never` (the common default) every segment has 4 KiB pages: a pass over a large array
/// then runs a few per cent slower than over a private, huge-paged one (ARCHITECTURE.md). The
/// policies that also cover memory committed by `fallocate` are `within_size` and `always`.
pub fn shmem_huge_pages() -> Option<String> {
    let text = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled").ok()?;
    selected_policy(&text).map(str::to_owned)
}

/// The bracketed word of a sysfs choice list: `always [never] deny` gives `never`.
fn selected_policy(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

/// One sealed, shared memfd mapping, owned by the daemon and shared with one client.
pub struct Segment {
    fd: OwnedFd,
    map: MmapRaw,
}

impl Segment {
    /// Creates a memfd of `size` bytes, seals its size, and maps it read-write shared.
    ///
    /// With `commit` the whole range is committed up front (control segments: small and always used).
    pub fn create(name: &str, size: usize, commit: bool) -> io::Result<Segment> {
        if size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "segment size must be positive"));
        }
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, size as u64)?;
        if commit {
            rustix::fs::fallocate(&fd, FallocateFlags::KEEP_SIZE, 0, size as u64)?;
        }
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let map = MmapOptions::new().len(size).map_raw(&fd)?;
        Ok(Segment { fd, map })
    }

    /// The first byte of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a segment has a positive size.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The memfd, to pass to the client.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Commits memory for `[offset, offset + len)` so that touching it cannot fault for lack of memory.
    pub fn commit(&self, offset: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        Ok(rustix::fs::fallocate(&self.fd, FallocateFlags::KEEP_SIZE, offset, len)?)
    }

    /// Returns the pages wholly inside `[offset, offset + len)` to the system; they read as zero after.
    pub fn decommit(&self, offset: u64, len: u64) -> io::Result<()> {
        const PAGE: u64 = 4096;
        let start = offset.div_ceil(PAGE) * PAGE;
        let end = (offset + len) / PAGE * PAGE;
        if end <= start {
            return Ok(());
        }
        Ok(rustix::fs::fallocate(
            &self.fd,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            start,
            end - start,
        )?)
    }
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
    fn the_selected_policy_is_the_bracketed_word() {
        assert_eq!(selected_policy("always within_size advise [never] deny force\n"), Some("never"));
        assert_eq!(selected_policy("[always] never"), Some("always"));
        assert_eq!(selected_policy("always never"), None);
        assert_eq!(selected_policy("always [never"), None);
    }

    #[test]
    fn sealed_against_resizing() {
        let seg = Segment::create("test", 1 << 16, true).unwrap();
        assert_eq!(seg.len(), 1 << 16);
        assert!(rustix::fs::ftruncate(seg.fd(), 4096).is_err(), "shrink must be refused");
        assert!(rustix::fs::ftruncate(seg.fd(), 1 << 20).is_err(), "grow must be refused");
        let seals = rustix::fs::fcntl_get_seals(seg.fd()).unwrap();
        assert!(seals.contains(SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL));
    }

    #[test]
    fn decommit_zeroes_whole_pages_only() {
        let seg = Segment::create("test", 1 << 16, true).unwrap();
        // SAFETY: the mapping is 64 KiB and nobody else sees it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(seg.as_ptr(), seg.len()) };
        bytes.fill(7);
        seg.decommit(100, 3 * 4096).unwrap();
        assert_eq!(bytes[4095], 7);
        assert_eq!(bytes[4096], 0);
        assert_eq!(bytes[3 * 4096 - 1], 0);
        assert_eq!(bytes[3 * 4096], 7);
        seg.commit(0, 1 << 16).unwrap();
    }
}
