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
