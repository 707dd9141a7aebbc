//! Linux `/proc` lookups: which process owns the socket listening on a port, and which
//! processes are still alive in a process group.

use std::fs;

/// `st` of a listening socket in `/proc/net/tcp{,6}`.
const TCP_LISTEN: &str = "0A";

/// Socket inodes listening on `port` (any address), from one `/proc/net/tcp` or `tcp6` text.
fn listening_inodes_in(text: &str, port: u16) -> Vec<u64> {
    let mut inodes = Vec::new();
    for line in text.lines().skip(1) {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 || fields[3] != TCP_LISTEN {
            continue;
        }
        let Some((_, hex_port)) = fields[1].rsplit_once(':') else {
            continue;
        };
        if u16::from_str_radix(hex_port, 16) != Ok(port) {
            continue;
        }
        if let Ok(inode) = fields[9].parse::<u64>()
            && inode != 0
        {
            inodes.push(inode);
        }
    }
    inodes
}

/// Pids of the processes holding a socket that listens on TCP `port` in this network
/// namespace. Empty when there is none, or when `/proc` cannot be read (not Linux, or the
/// process belongs to another user).
pub(crate) fn listening_pids(port: u16) -> Vec<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            inodes.extend(listening_inodes_in(&text, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut pids = Vec::new();
    for pid in all_pids() {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .is_ok_and(|link| targets.iter().any(|t| link.as_os_str() == t.as_str()))
        });
        if owns {
            pids.push(pid);
        }
    }
    pids
}

fn all_pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// The state letter and process group of a `/proc/<pid>/stat` line. The command name is in
/// parentheses and may itself contain `)`, so fields are counted from the last one.
fn state_and_pgrp(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Live (not zombie, not dead) processes of process group `pgid`, or `None` when `/proc`
/// cannot be read. Zombies are left out: they hold no resources, and an orphaned one waits for
/// whatever reaps orphans in this container, which leakcheck cannot hurry.
pub(crate) fn group_members(pgid: u32) -> Option<Vec<u32>> {
    fs::metadata("/proc/self/stat").ok()?;
    let mut members = Vec::new();
    for pid in all_pids() {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = state_and_pgrp(&stat)
            && pgrp == pgid
            && !matches!(state, 'Z' | 'X' | 'x')
        {
            members.push(pid);
        }
    }
    Some(members)
}

/// Live processes whose environment holds the entry `entry` (`NAME=value`), with their
/// command lines: the processes a target started, wherever they went (a daemon that left the
/// group with `setsid` keeps its environment). Empty where `/proc` cannot be read.
pub(crate) fn with_environment(entry: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for pid in all_pids() {
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !environ.split(|&b| b == 0).any(|var| var == entry.as_bytes()) {
            continue;
        }
        let alive = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| state_and_pgrp(&stat))
            .is_some_and(|(state, _)| !matches!(state, 'Z' | 'X' | 'x'));
        if alive {
            found.push((pid, command_line(pid)));
        }
    }
    found
}

/// The command line of `pid`, arguments joined by spaces (`[name]` for a kernel thread or a
/// process whose arguments are gone).
pub(crate) fn command_line(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw).replace('\0', " ");
    let text = text.trim_end();
    if text.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        format!("[{}]", comm.trim_end())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_sockets() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0
   3: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(listening_inodes_in(text, 8080), [12345, 777]);
        assert_eq!(listening_inodes_in(text, 8081), [555]);
        assert!(listening_inodes_in(text, 1).is_empty());
    }

    #[test]
    fn parses_stat_with_parentheses_in_the_name() {
        assert_eq!(state_and_pgrp("42 (a) b) S 1 4242 4242 0 -1 4194560"), Some(('S', 4242)));
        assert_eq!(state_and_pgrp("7 (node) Z 1 7 7"), Some(('Z', 7)));
        assert_eq!(state_and_pgrp("garbage"), None);
    }

    #[test]
    fn finds_our_own_listener_and_group() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listening_pids(port), [std::process::id()]);
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_members(pgid).unwrap().contains(&std::process::id()));
    }

    #[test]
    fn finds_a_child_by_its_environment() {
        let entry = format!("LEAKCHECK_PROCFS_TEST={}", std::process::id());
        let (name, value) = entry.split_once('=').unwrap();
        let mut child =
            std::process::Command::new("sleep").arg("30").env(name, value).spawn().unwrap();
        // Until the child has exec'd, /proc/PID/environ is the parent's copy: wait for exec.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = with_environment(&entry);
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            found = with_environment(&entry);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, [(child.id(), "sleep 30".to_owned())]);
        assert!(with_environment(&entry).is_empty());
    }
}
