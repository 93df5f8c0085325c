//! Tells a service manager when the daemon is ready and when it stops (systemd's `Type=notify`),
//! if one started it with `NOTIFY_SOCKET` set; does nothing otherwise.

use sd_notify::NotifyState;

/// The daemon listens: clients may connect.
pub fn ready() {
    send(NotifyState::Ready);
}

/// The daemon has begun its orderly shutdown.
pub fn stopping() {
    send(NotifyState::Stopping);
}

fn send(state: NotifyState) {
    // `false`: keep NOTIFY_SOCKET; unsetting it would write the environment of a threaded process.
    if let Err(e) = sd_notify::notify(false, &[state]) {
        log::warn!("cannot notify the service manager: {e}");
    }
}
