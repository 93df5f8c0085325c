//! Where a daemon's socket lives by default: `$SHMCALL_SOCKET`, else
//! `$XDG_RUNTIME_DIR/shmcall/<name>.sock`, else `/tmp/shmcall-<uid>/<name>.sock` (`shmcalld.sock` for
//! `shmcalld`). The directory is created 0700 and must belong to this user, so no other user can
//! connect or plant a socket.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the socket path (the client reads it too).
pub const SOCKET_ENV: &str = "SHMCALL_SOCKET";

/// The default socket path of the daemon called `name`, for this user.
pub fn default_socket(name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(run) => PathBuf::from(run).join("shmcall"),
        None => PathBuf::from(format!("/tmp/shmcall-{}", rustix::process::getuid().as_raw())),
    };
    dir.join(format!("{name}.sock"))
}

/// Creates the socket's directory (0700) if needed and checks it is private to this user.
pub fn prepare_dir(socket: &Path) -> io::Result<()> {
    let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let meta = std::fs::metadata(dir)?;
    let uid = rustix::process::getuid().as_raw();
    if meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("socket directory {} belongs to uid {}, not {uid}", dir.display(), meta.uid()),
        ));
    }
    if dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("shmcall"))
        && meta.permissions().mode() & 0o077 != 0
    {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
