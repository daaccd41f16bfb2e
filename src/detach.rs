//! Returning to the build as soon as the output is in place. A link's last milliseconds go to
//! work nobody waits for: removing the previous output (freeing a large file's blocks is slow
//! on Linux), unmapping the inputs and the process's exit. As mold and wild do, the link runs
//! in a child process; the process the build started exits as soon as the child reports that
//! the output is complete, with the link's status, and the child finishes the rest alone.
//! `--no-fork` links in one process.

use anyhow::Result;
use std::io::Write;

/// Runs `link` in a child process and exits with its status as soon as it has one. Returns
/// only if no child could be made, with `link`'s result (run in this process).
pub fn run(link: impl FnOnce() -> Result<()>) -> Result<()> {
    let mut fds = [0i32; 2];
    // SAFETY: plain system calls on a local array; no other thread exists yet (rayon's pool
    // is built by the link itself), so the child may run arbitrary code after fork.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return link();
    }
    let [read_end, write_end] = fds;
    match unsafe { libc::fork() } {
        -1 => {
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            link()
        }
        0 => {
            unsafe { libc::close(read_end) };
            let ok = match link() {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("spacer: error: {e:#}");
                    false
                }
            };
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            let status = [if ok { 0u8 } else { 1 }];
            unsafe {
                libc::write(write_end, status.as_ptr().cast(), 1);
                libc::close(write_end);
            }
            crate::atomic_file::remove_deferred();
            std::process::exit(status[0] as i32)
        }
        child => {
            unsafe { libc::close(write_end) };
            let mut status = [0u8];
            let n = loop {
                let n = unsafe { libc::read(read_end, status.as_mut_ptr().cast(), 1) };
                if n >= 0
                    || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    break n;
                }
            };
            if n == 1 {
                std::process::exit(status[0] as i32);
            }
            // The child ended without a word: it crashed or was killed.
            let mut ws = 0i32;
            unsafe { libc::waitpid(child, &mut ws, 0) };
            if libc::WIFEXITED(ws) {
                std::process::exit(libc::WEXITSTATUS(ws));
            }
            let sig = if libc::WIFSIGNALED(ws) {
                libc::WTERMSIG(ws)
            } else {
                0
            };
            eprintln!("spacer: error: the link process was killed by signal {sig}");
            std::process::exit(128 + sig)
        }
    }
}
