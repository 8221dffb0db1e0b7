//! The daemon's listeners between samples: one TCP destroy listener per network namespace
//! (the final counters of connections that close between two dumps), and with the pcap
//! fallback the UDP capture. Refreshed before each collection, drained after it. And the
//! daemon's rtnetlink socket in each namespace, through which an idle one's links are read
//! without entering it.

#[cfg(feature = "pcap")]
use super::capture;
use super::{Sample, TcpSock, WarnKind, Warnings, ifinfo, netns, sockdiag};
use std::collections::{HashMap, HashSet};

/// What the daemon listens to between samples: TCP destroy events, and with the pcap fallback
/// the UDP capture. Refreshed before each collection, drained after it.
#[derive(Default)]
pub struct Listening {
    pub closed: Closed,
    #[cfg(feature = "pcap")]
    pub capture: Option<capture::Capture>,
    probers: Probers,
}

impl Listening {
    /// Follows the sample's walk of the namespaces (`targets`), before they are read: both
    /// kinds of listener for every namespace, none for one that is gone.
    pub(crate) fn refresh(&mut self, targets: &[netns::NsTarget], warn: &mut Warnings) {
        self.closed.refresh(targets, warn);
        self.probers.refresh(targets);
        #[cfg(feature = "pcap")]
        if let Some(c) = &mut self.capture {
            c.refresh(targets, warn);
        }
    }

    /// The rtnetlink socket kept in namespace `inode` (not in the daemon's own).
    pub(crate) fn prober(&self, inode: u64) -> Option<&Kept> {
        self.probers.kept.get(&inode)
    }

    pub fn drain_into(&mut self, s: &mut Sample, warn: &mut Warnings) {
        self.closed.drain_into(s, warn);
        #[cfg(feature = "pcap")]
        if let Some(c) = &mut self.capture {
            c.drain_into(s, warn);
        }
    }
}

/// The daemon's rtnetlink socket in every other namespace, opened once in it: reading an
/// idle namespace's links through it costs a dump, where entering it costs an open, a
/// setns and a socket made and closed every sample (~15 % of the daemon's CPU among 1 000
/// idle namespaces, the link dumps another ~19 %: perf). Like a destroy listener it holds its namespace alive, never longer
/// than a sample: one whose namespace is gone from the walk is closed. A namespace where
/// none can be opened (no descriptors left) is entered as before.
///
/// Each is subscribed to its namespace's link changes ([`Kept::links`]).
#[derive(Default)]
struct Probers {
    kept: HashMap<u64, Kept>,
    failed: HashSet<u64>,
}

/// A socket kept in a namespace, subscribed to its link changes.
pub(crate) struct Kept {
    prober: ifinfo::Prober,
    /// Subscribed to the link changes.
    watching: bool,
    /// A link dump through it found the previous sample's names, and it heard of no change
    /// since: the names are still those (a notification drained clears it until a dump
    /// finds them again).
    pub(crate) named: std::cell::Cell<bool>,
}

impl Kept {
    /// The namespace's links, when they may be the previous sample's (`prior`): by counters
    /// alone (RTM_GETSTATS, named as `prior` named them) while the socket knows the names
    /// are the prior's, else by a link dump. None when a link changed during the dump (the
    /// namespace is then read).
    pub(crate) fn links(
        &self,
        prior: &nrec_model::derive::idle::Prior,
    ) -> Option<Vec<(nrec_model::sample::IfaceCounters, u32)>> {
        if self.watching && self.prober.changed() {
            self.named.set(false);
        }
        if self.named.get() {
            if let Ok((stats, false)) = self.prober.stats_noting() {
                if let Some(l) = prior.named(stats).filter(|l| !l.is_empty()) {
                    return Some(l);
                }
            }
        }
        match self.prober.links_noting().ok()? {
            (l, false) if !l.is_empty() => {
                self.named.set(self.watching && prior.same_names(&l));
                Some(l)
            }
            _ => {
                self.named.set(false);
                None
            }
        }
    }

    pub(crate) fn cookie(&self) -> Option<u64> {
        self.prober.netns_cookie()
    }
}

impl Probers {
    fn refresh(&mut self, targets: &[netns::NsTarget]) {
        let live: HashSet<u64> = targets.iter().map(|t| t.inode).collect();
        self.kept.retain(|ino, _| live.contains(ino));
        self.failed.retain(|ino| live.contains(ino));
        for t in targets.iter().filter(|t| !t.is_own) {
            if self.kept.contains_key(&t.inode) || self.failed.contains(&t.inode) {
                continue;
            }
            match netns::run_in(t, ifinfo::Prober::new) {
                Ok(prober) if prober.is_open() => {
                    let watching = prober.watch().is_ok();
                    self.kept.insert(
                        t.inode,
                        Kept {
                            prober,
                            watching,
                            named: std::cell::Cell::new(false),
                        },
                    );
                }
                _ => {
                    self.failed.insert(t.inode);
                }
            }
        }
    }
}

/// The daemon's TCP destroy listeners, one per network namespace.
#[derive(Default)]
pub struct Closed {
    listeners: std::collections::HashMap<u64, sockdiag::DestroyListener>,
    overflows_seen: u64,
    failed: std::collections::HashSet<u64>,
}

impl Closed {
    /// Opens a listener in every namespace that has none yet and closes those of namespaces
    /// that are gone (a listener holds its namespace alive: not for longer than a tick).
    pub fn refresh(&mut self, targets: &[netns::NsTarget], warn: &mut Warnings) {
        let live: std::collections::HashSet<u64> = targets.iter().map(|t| t.inode).collect();
        self.listeners.retain(|ino, _| live.contains(ino));
        // a namespace that could not be listened in and is gone is forgotten (containers come
        // and go: a daemon must not remember every one it ever saw)
        self.failed.retain(|ino| live.contains(ino));
        for t in targets {
            if self.listeners.contains_key(&t.inode) || self.failed.contains(&t.inode) {
                continue;
            }
            match netns::run_in(t, sockdiag::DestroyListener::open) {
                Ok(Ok(l)) => {
                    self.listeners.insert(t.inode, l);
                }
                Ok(Err(e)) | Err(e) => {
                    self.failed.insert(t.inode);
                    warn.warn(WarnKind::Closed, format!(
                        "namespace {}: cannot listen for closing TCP sockets ({e}); a closing connection's last bytes there stay uncounted",
                        String::from_utf8_lossy(&t.name)
                    ));
                }
            }
        }
    }

    /// Moves the queued destroy events into the sample's namespaces. Call after collecting:
    /// a socket closed after the dump is then counted from its dumped counters.
    pub fn drain_into(&mut self, s: &mut Sample, warn: &mut Warnings) {
        for (ino, l) in &mut self.listeners {
            let mut got = Vec::new();
            let res = l.drain(|d| {
                if let (Some(acked), Some(received)) = (d.bytes_acked, d.bytes_received) {
                    if acked + received > 0 {
                        got.push(TcpSock {
                            cookie: d.cookie,
                            lport: d.sport,
                            rport: d.dport,
                            raddr: sockdiag::addr_text(d.family, &d.dst),
                            inode: d.inode,
                            bytes_acked: acked,
                            bytes_received: received,
                        });
                    }
                }
            });
            if let Err(e) = res {
                warn.warn(
                    WarnKind::Closed,
                    format!("reading TCP destroy events failed: {e}"),
                );
            }
            if let Some(ns) = s.namespaces.iter_mut().find(|n| n.inode == *ino) {
                ns.closed.get_or_insert_with(Vec::new).extend(got);
            }
        }
        let overflows: u64 = self.listeners.values().map(|l| l.overflows).sum();
        if overflows > self.overflows_seen {
            warn.warn(WarnKind::Closed, format!(
                "TCP destroy events were lost ({} receive-queue overflows): some closing connections' last bytes are uncounted",
                overflows - self.overflows_seen
            ));
            self.overflows_seen = overflows;
        }
    }
}
