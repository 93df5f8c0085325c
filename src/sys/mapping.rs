//! A shared mapping of a shared memory file placed on a huge page boundary, so that the huge pages of the file
//! (`MADV_COLLAPSE`, [`super::Segment::make_huge`]) can be mapped whole, one TLB entry per 2 MiB.
//!
//! memmap2 lets the kernel choose the address, which for a shared memory file under the common
//! `shmem_enabled=never` is only page-aligned. Here the mapping reserves 2 MiB more than it needs
//! (inaccessible, no memory behind it), maps the file over the aligned part, and gives back the rest.

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::null_mut;

use rustix::mm::{MapFlags, ProtFlags};

/// The huge page size this code aligns to: a PMD's span with 4 KiB pages (x86-64, arm64).
pub const HUGE_PAGE: usize = 2 << 20;

/// The system's page size: 4 KiB on x86-64, 16 KiB on Apple silicon, 4, 16 or 64 KiB on ARM Linux.
/// The file's mapping ends on a page boundary, so what is left of the reservation starts on the next.
fn page_size() -> usize {
    // SAFETY: `sysconf` only reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// A read-write shared mapping of a whole file, starting on a [`HUGE_PAGE`] boundary.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps the first `len` bytes of `fd` read-write and shared, at a huge-page-aligned address.
    pub fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        let reserve = len.checked_add(HUGE_PAGE).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh anonymous mapping at an address the kernel chooses touches nothing else.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                null_mut(),
                reserve,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )?
        } as usize;
        let start = base.next_multiple_of(HUGE_PAGE);
        // SAFETY: [start, start + len) lies inside the reservation made above, which nothing else
        // uses, so MAP_FIXED replaces only our own inaccessible pages.
        let mapped = unsafe {
            rustix::mm::mmap(
                start as *mut _,
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::FIXED,
                fd,
                0,
            )
        };
        let tail = start + len.next_multiple_of(page_size());
        // SAFETY: the head and the tail are what is left of our own reservation; on failure, all of it is.
        unsafe {
            if let Err(e) = mapped {
                let _ = rustix::mm::munmap(base as *mut _, reserve);
                return Err(e.into());
            }
            if start > base {
                let _ = rustix::mm::munmap(base as *mut _, start - base);
            }
            if base + reserve > tail {
                let _ = rustix::mm::munmap(tail as *mut _, base + reserve - tail);
            }
        }
        Ok(Mapping { ptr: start as *mut u8, len })
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and nothing refers to it once its owner is dropped.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

/// KiB of the mapping containing `ptr` that this process maps with huge pages (`/proc/self/smaps`).
#[cfg(test)]
pub(crate) fn huge_mapped_kib(ptr: *const u8) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let (lo, hi) = (usize::from_str_radix(lo, 16).unwrap_or(0), usize::from_str_radix(hi, 16).unwrap_or(0));
            inside = (lo..hi).contains(&(ptr as usize));
        } else if inside && line.starts_with("ShmemPmdMapped:") {
            return line.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
    }
    0
}

/// Whether this kernel has `MADV_COLLAPSE` (Linux 6.1+, with transparent huge pages).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn collapse_supported() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= (6, 1) && std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists()
}

/// Whether a refusal of `MADV_COLLAPSE` is one the kernel may give whatever the caller does: no
/// support, or no free huge page.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn acceptable_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) || !collapse_supported()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use rustix::fs::MemfdFlags;

    #[test]
    fn the_mapping_starts_on_a_huge_page_and_maps_the_file() {
        let fd = rustix::fs::memfd_create("test", MemfdFlags::CLOEXEC).unwrap();
        let len = 3 * 4096 + 100;
        rustix::fs::ftruncate(&fd, len as u64).unwrap();
        rustix::io::write(&fd, b"shmcall").unwrap();
        let m = Mapping::new(std::os::fd::AsFd::as_fd(&fd), len).unwrap();
        assert_eq!(m.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(m.len(), len);
        // SAFETY: the mapping is `len` bytes of a file nobody else uses.
        let bytes = unsafe { std::slice::from_raw_parts_mut(m.as_ptr(), m.len()) };
        assert_eq!(&bytes[..7], b"shmcall");
        bytes[len - 1] = 9;
        let mut back = [0u8; 1];
        rustix::io::pread(&fd, &mut back, len as u64 - 1).unwrap();
        assert_eq!(back, [9]);
    }
}
