//! Shared memory segments: a memfd sized once, sealed against shrinking and growing, mapped shared.
//!
//! Why memfd and not `/dev/shm` names: nothing is left behind when a process dies, the region is
//! passed to exactly the peer it is meant for, and the seals mean a peer can never shrink the file
//! under the daemon's mapping (which would turn the daemon's next access into SIGBUS).
//!
//! Pages are committed with `fallocate` when a heap block is handed out ([`Segment::commit`]) so
//! running out of memory is an `ENOSPC`/`ENOMEM` error at allocation, never a SIGBUS at first touch.
//! Large blocks get huge pages where the kernel can make them ([`Segment::make_huge`]).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FallocateFlags, MemfdFlags, SealFlags};

use crate::sys::mapping::{Mapping, HUGE_PAGE};

/// `madvise` advice (Linux 6.1+): back the range with huge pages now, whatever the sysfs policy.
const MADV_COLLAPSE: libc::c_int = 25;

/// The kernel's huge page policy for shared memory (`never`, `within_size`, `always`, ...), if it has
/// one, for the log. Under `never` (the common default) the kernel makes no huge pages of shared
/// memory by itself; the daemon makes them for large blocks ([`Segment::make_huge`]) whatever the
/// policy, where the kernel has `MADV_COLLAPSE`.
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
    map: Mapping,
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
        let map = Mapping::new(fd.as_fd(), size)?;
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

    /// Backs the whole huge pages inside `[offset, offset + len)` with huge pages, which commits
    /// them, and returns that range; None if there is none. An error (`EINVAL` before Linux 6.1,
    /// `EAGAIN`/`ENOMEM` without a free huge page) leaves the caller to commit as usual.
    ///
    /// A pass over an array then takes one TLB entry per 2 MiB instead of 512: a large `sum` ran
    /// 8–10 % faster, level with a private huge-paged array (docs/performance-notes.md). `MADV_COLLAPSE`
    /// refuses a range without a single page, so each gets one first (`fallocate`, which keeps a page
    /// already there); collapsing copies what is present, so contents are kept, and a range with one
    /// page costs little more than zeroing a huge page.
    pub fn make_huge(&self, offset: u64, len: u64) -> io::Result<Option<(u64, u64)>> {
        let huge = HUGE_PAGE as u64;
        let start = offset.next_multiple_of(huge);
        let end = offset.saturating_add(len).min(self.len() as u64) / huge * huge;
        if end <= start {
            return Ok(None);
        }
        for at in (start..end).step_by(HUGE_PAGE) {
            rustix::fs::fallocate(&self.fd, FallocateFlags::KEEP_SIZE, at, 4096)?;
        }
        // SAFETY: the range lies inside our mapping (clamped to its length above); MADV_COLLAPSE
        // changes only which pages back it, never what it holds.
        let rc =
            unsafe { libc::madvise(self.as_ptr().add(start as usize).cast(), (end - start) as usize, MADV_COLLAPSE) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some((start, end - start)))
    }

    /// Returns the pages wholly inside `[offset, offset + len)` to the system; they read as zero after.
    pub fn decommit(&self, offset: u64, len: u64) -> io::Result<()> {
        const PAGE: u64 = 4096;
        let start = offset.div_ceil(PAGE) * PAGE;
        let end = (offset + len) / PAGE * PAGE;
        if end <= start {
            return Ok(());
        }
        Ok(rustix::fs::fallocate(&self.fd, FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE, start, end - start)?)
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
    fn make_huge_backs_the_whole_huge_pages_inside_and_keeps_what_they_hold() {
        use crate::sys::mapping::{acceptable_refusal, huge_mapped_kib};
        let seg = Segment::create("test-huge", (6 << 20) + 4096, false).unwrap();
        // SAFETY: the mapping is ours alone and this long.
        let bytes = unsafe { std::slice::from_raw_parts_mut(seg.as_ptr(), seg.len()) };
        bytes[(3 << 20) + 5] = 42; // a page already there, in the middle of a huge page
        assert_eq!(seg.make_huge(4096, 2 << 20).unwrap(), None, "no whole huge page inside");
        match seg.make_huge(4096, 6 << 20) {
            Ok(found) => {
                assert_eq!(found, Some((2 << 20, 4 << 20)));
                assert_eq!(huge_mapped_kib(seg.as_ptr()), 4 << 10);
            }
            Err(e) => assert!(acceptable_refusal(&e), "MADV_COLLAPSE refused: {e}"),
        }
        assert_eq!(bytes[(3 << 20) + 5], 42);
        assert!(bytes[2 << 20..(3 << 20) + 5].iter().chain(&bytes[(3 << 20) + 6..4 << 20]).all(|&b| b == 0));
        bytes[(6 << 20) - 1] = 7; // the huge pages are committed: no SIGBUS, no fault for memory
        assert_eq!(bytes[(6 << 20) - 1], 7);
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
