//! The report kinds of `nrec report -n KIND`: sysstat's column names and the counters
//! behind each column, as data. A kind is a list of inputs (raw deltas or gauges read from
//! the store) and a list of columns computed from them.

/// Where an input's value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Src {
    /// Delta of /proc/net/dev counter N (/proc/net/dev order: rx bytes packets errs drop fifo frame compressed multicast, then tx bytes packets errs drop fifo colls carrier compressed).
    Dev(usize),
    /// Delta of a cumulative protocol counter (sum over the keys).
    Ctr(&'static [&'static str]),
    /// Value of a gauge at the sample (sum over the keys).
    Gauge(&'static [&'static str]),
    /// Per-process bytes: 0 received, anything else sent.
    Proc(usize),
}

#[derive(Debug, Clone, Copy)]
pub struct Input {
    /// CSV / JSON name of the raw value.
    pub name: &'static str,
    pub src: Src,
}

#[derive(Debug, Clone, Copy)]
pub enum Calc {
    /// Input delta per second, divided by `div` (1024 for kB/s).
    Rate(usize, f64),
    /// Gauge value (mean when several samples are aggregated).
    Mean(usize),
    /// sysstat's %ifutil from the rx and tx byte inputs and the link speed/duplex.
    IfUtil(usize, usize),
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// sar's heading, also the CSV column name.
    pub head: &'static str,
    pub calc: Calc,
}

/// What one row of a kind is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// An interface (DEV, EDEV): stored interface deltas.
    Iface,
    /// A namespace (protocol kinds): stored protocol counters.
    Netns,
    /// A process (PROC): stored per-process bytes.
    Proc,
}

impl Key {
    /// The heading of the key column in tables, and its CSV/JSON name.
    pub fn names(self) -> Option<(&'static str, &'static str)> {
        match self {
            Key::Iface => Some(("IFACE", "iface")),
            Key::Proc => Some(("COMMAND", "process")),
            Key::Netns => None,
        }
    }
}

#[derive(Debug)]
pub struct Kind {
    pub name: &'static str,
    pub key: Key,
    pub inputs: &'static [Input],
    pub columns: &'static [Column],
}

const fn i(name: &'static str, src: Src) -> Input {
    Input { name, src }
}
const fn rate(head: &'static str, input: usize) -> Column {
    Column {
        head,
        calc: Calc::Rate(input, 1.0),
    }
}
/// A byte-rate column in KiB/s (sar's kB).
const fn kib(head: &'static str, input: usize) -> Column {
    Column {
        head,
        calc: Calc::Rate(input, 1024.0),
    }
}
const fn mean(head: &'static str, input: usize) -> Column {
    Column {
        head,
        calc: Calc::Mean(input),
    }
}

/// The four byte/packet deltas every interface kind carries in CSV/JSON (issue contract).
const DEV_BASE: [Input; 4] = [
    i("rx_bytes", Src::Dev(0)),
    i("tx_bytes", Src::Dev(8)),
    i("rx_packets", Src::Dev(1)),
    i("tx_packets", Src::Dev(9)),
];

pub static DEV: Kind = Kind {
    name: "DEV",
    key: Key::Iface,
    inputs: &[
        DEV_BASE[0],
        DEV_BASE[1],
        DEV_BASE[2],
        DEV_BASE[3],
        i("rx_compressed", Src::Dev(6)),
        i("tx_compressed", Src::Dev(15)),
        i("rx_multicast", Src::Dev(7)),
    ],
    columns: &[
        rate("rxpck/s", 2),
        rate("txpck/s", 3),
        kib("rxkB/s", 0),
        kib("txkB/s", 1),
        rate("rxcmp/s", 4),
        rate("txcmp/s", 5),
        rate("rxmcst/s", 6),
        Column {
            head: "%ifutil",
            calc: Calc::IfUtil(0, 1),
        },
    ],
};

pub static EDEV: Kind = Kind {
    name: "EDEV",
    key: Key::Iface,
    inputs: &[
        DEV_BASE[0],
        DEV_BASE[1],
        DEV_BASE[2],
        DEV_BASE[3],
        i("rx_errs", Src::Dev(2)),
        i("tx_errs", Src::Dev(10)),
        i("tx_colls", Src::Dev(13)),
        i("rx_drop", Src::Dev(3)),
        i("tx_drop", Src::Dev(11)),
        i("tx_carrier", Src::Dev(14)),
        i("rx_frame", Src::Dev(5)),
        i("rx_fifo", Src::Dev(4)),
        i("tx_fifo", Src::Dev(12)),
    ],
    columns: &[
        rate("rxerr/s", 4),
        rate("txerr/s", 5),
        rate("coll/s", 6),
        rate("rxdrop/s", 7),
        rate("txdrop/s", 8),
        rate("txcarr/s", 9),
        rate("rxfram/s", 10),
        rate("rxfifo/s", 11),
        rate("txfifo/s", 12),
    ],
};

pub static SOCK: Kind = Kind {
    name: "SOCK",
    key: Key::Netns,
    inputs: &[
        i("totsck", Src::Gauge(&["sockstat:sockets:used"])),
        i("tcpsck", Src::Gauge(&["sockstat:TCP:inuse"])),
        i("udpsck", Src::Gauge(&["sockstat:UDP:inuse"])),
        i("rawsck", Src::Gauge(&["sockstat:RAW:inuse"])),
        i("ip-frag", Src::Gauge(&["sockstat:FRAG:inuse"])),
        i("tcp-tw", Src::Gauge(&["sockstat:TCP:tw"])),
    ],
    columns: &[
        mean("totsck", 0),
        mean("tcpsck", 1),
        mean("udpsck", 2),
        mean("rawsck", 3),
        mean("ip-frag", 4),
        mean("tcp-tw", 5),
    ],
};

pub static SOCK6: Kind = Kind {
    name: "SOCK6",
    key: Key::Netns,
    inputs: &[
        i("tcp6sck", Src::Gauge(&["sockstat6:TCP6:inuse"])),
        i("udp6sck", Src::Gauge(&["sockstat6:UDP6:inuse"])),
        i("raw6sck", Src::Gauge(&["sockstat6:RAW6:inuse"])),
        i("ip6-frag", Src::Gauge(&["sockstat6:FRAG6:inuse"])),
    ],
    columns: &[
        mean("tcp6sck", 0),
        mean("udp6sck", 1),
        mean("raw6sck", 2),
        mean("ip6-frag", 3),
    ],
};

pub static IP: Kind = Kind {
    name: "IP",
    key: Key::Netns,
    inputs: &[
        i("InReceives", Src::Ctr(&["snmp:Ip:InReceives"])),
        i("ForwDatagrams", Src::Ctr(&["snmp:Ip:ForwDatagrams"])),
        i("InDelivers", Src::Ctr(&["snmp:Ip:InDelivers"])),
        i("OutRequests", Src::Ctr(&["snmp:Ip:OutRequests"])),
        i("ReasmReqds", Src::Ctr(&["snmp:Ip:ReasmReqds"])),
        i("ReasmOKs", Src::Ctr(&["snmp:Ip:ReasmOKs"])),
        i("FragOKs", Src::Ctr(&["snmp:Ip:FragOKs"])),
        i("FragCreates", Src::Ctr(&["snmp:Ip:FragCreates"])),
    ],
    columns: &[
        rate("irec/s", 0),
        rate("fwddgm/s", 1),
        rate("idel/s", 2),
        rate("orq/s", 3),
        rate("asmrq/s", 4),
        rate("asmok/s", 5),
        rate("fragok/s", 6),
        rate("fragcrt/s", 7),
    ],
};

pub static EIP: Kind = Kind {
    name: "EIP",
    key: Key::Netns,
    inputs: &[
        i("InHdrErrors", Src::Ctr(&["snmp:Ip:InHdrErrors"])),
        i("InAddrErrors", Src::Ctr(&["snmp:Ip:InAddrErrors"])),
        i("InUnknownProtos", Src::Ctr(&["snmp:Ip:InUnknownProtos"])),
        i("InDiscards", Src::Ctr(&["snmp:Ip:InDiscards"])),
        i("OutDiscards", Src::Ctr(&["snmp:Ip:OutDiscards"])),
        i("OutNoRoutes", Src::Ctr(&["snmp:Ip:OutNoRoutes"])),
        i("ReasmFails", Src::Ctr(&["snmp:Ip:ReasmFails"])),
        i("FragFails", Src::Ctr(&["snmp:Ip:FragFails"])),
    ],
    columns: &[
        rate("ihdrerr/s", 0),
        rate("iadrerr/s", 1),
        rate("iukwnpr/s", 2),
        rate("idisc/s", 3),
        rate("odisc/s", 4),
        rate("onort/s", 5),
        rate("asmf/s", 6),
        rate("fragf/s", 7),
    ],
};

pub static TCP: Kind = Kind {
    name: "TCP",
    key: Key::Netns,
    inputs: &[
        i("ActiveOpens", Src::Ctr(&["snmp:Tcp:ActiveOpens"])),
        i("PassiveOpens", Src::Ctr(&["snmp:Tcp:PassiveOpens"])),
        i("InSegs", Src::Ctr(&["snmp:Tcp:InSegs"])),
        i("OutSegs", Src::Ctr(&["snmp:Tcp:OutSegs"])),
    ],
    columns: &[
        rate("active/s", 0),
        rate("passive/s", 1),
        rate("iseg/s", 2),
        rate("oseg/s", 3),
    ],
};

pub static ETCP: Kind = Kind {
    name: "ETCP",
    key: Key::Netns,
    inputs: &[
        i("AttemptFails", Src::Ctr(&["snmp:Tcp:AttemptFails"])),
        i("EstabResets", Src::Ctr(&["snmp:Tcp:EstabResets"])),
        i("RetransSegs", Src::Ctr(&["snmp:Tcp:RetransSegs"])),
        i("InErrs", Src::Ctr(&["snmp:Tcp:InErrs"])),
        i("OutRsts", Src::Ctr(&["snmp:Tcp:OutRsts"])),
    ],
    columns: &[
        rate("atmptf/s", 0),
        rate("estres/s", 1),
        rate("retrans/s", 2),
        rate("isegerr/s", 3),
        rate("orsts/s", 4),
    ],
};

pub static UDP: Kind = Kind {
    name: "UDP",
    key: Key::Netns,
    inputs: &[
        i("InDatagrams", Src::Ctr(&["snmp:Udp:InDatagrams"])),
        i("OutDatagrams", Src::Ctr(&["snmp:Udp:OutDatagrams"])),
        i("NoPorts", Src::Ctr(&["snmp:Udp:NoPorts"])),
        i("InErrors", Src::Ctr(&["snmp:Udp:InErrors"])),
    ],
    columns: &[
        rate("idgm/s", 0),
        rate("odgm/s", 1),
        rate("noport/s", 2),
        rate("idgmerr/s", 3),
    ],
};

pub static UDP6: Kind = Kind {
    name: "UDP6",
    key: Key::Netns,
    inputs: &[
        i("Udp6InDatagrams", Src::Ctr(&["snmp6:Udp6InDatagrams"])),
        i("Udp6OutDatagrams", Src::Ctr(&["snmp6:Udp6OutDatagrams"])),
        i("Udp6NoPorts", Src::Ctr(&["snmp6:Udp6NoPorts"])),
        i("Udp6InErrors", Src::Ctr(&["snmp6:Udp6InErrors"])),
    ],
    columns: &[
        rate("idgm6/s", 0),
        rate("odgm6/s", 1),
        rate("noport6/s", 2),
        rate("idgmer6/s", 3),
    ],
};

/// nrec's own: bytes per process per interval (sock_diag TCP payload).
pub static PROC: Kind = Kind {
    name: "PROC",
    key: Key::Proc,
    inputs: &[i("rx_bytes", Src::Proc(0)), i("tx_bytes", Src::Proc(1))],
    columns: &[kib("rxkB/s", 0), kib("txkB/s", 1)],
};

macro_rules! tcp_state {
    ($s:literal) => {
        Src::Gauge(&[concat!("diag:tcp4:", $s), concat!("diag:tcp6:", $s)])
    };
}

/// nrec's own: TCP sockets per state (IPv4 + IPv6) from sock_diag, which sar lacks.
pub static STATE: Kind = Kind {
    name: "STATE",
    key: Key::Netns,
    inputs: &[
        i("estab", tcp_state!("ESTABLISHED")),
        i("synsent", tcp_state!("SYN_SENT")),
        i("synrecv", tcp_state!("SYN_RECV")),
        i("finwait1", tcp_state!("FIN_WAIT1")),
        i("finwait2", tcp_state!("FIN_WAIT2")),
        i("timewait", tcp_state!("TIME_WAIT")),
        i("close", tcp_state!("CLOSE")),
        i("closewait", tcp_state!("CLOSE_WAIT")),
        i("lastack", tcp_state!("LAST_ACK")),
        i("listen", tcp_state!("LISTEN")),
        i("closing", tcp_state!("CLOSING")),
        i("udp", Src::Gauge(&["diag:udp4:total", "diag:udp6:total"])),
    ],
    columns: &[
        mean("estab", 0),
        mean("synsent", 1),
        mean("synrecv", 2),
        mean("finwait1", 3),
        mean("finwait2", 4),
        mean("timewait", 5),
        mean("close", 6),
        mean("closewait", 7),
        mean("lastack", 8),
        mean("listen", 9),
        mean("closing", 10),
        mean("udp", 11),
    ],
};

/// Every name `-n` accepts (shell completion offers these).
pub const NAMES: [&str; 14] = [
    "DEV", "EDEV", "IP", "EIP", "SOCK", "SOCK6", "TCP", "ETCP", "UDP", "UDP6", "STATE", "PROC",
    "LISTEN", "ALL",
];

/// Kinds in the order `-n ALL` prints them (LISTEN is not a per-interval table and comes last).
pub static ALL: [&Kind; 12] = [
    &DEV, &EDEV, &IP, &EIP, &SOCK, &SOCK6, &TCP, &ETCP, &UDP, &UDP6, &STATE, &PROC,
];

pub fn by_name(name: &str) -> Option<&'static Kind> {
    let k: &'static Kind = match name.to_ascii_uppercase().as_str() {
        "DEV" => &DEV,
        "EDEV" => &EDEV,
        "IP" => &IP,
        "EIP" => &EIP,
        "SOCK" => &SOCK,
        "SOCK6" => &SOCK6,
        "TCP" => &TCP,
        "ETCP" => &ETCP,
        "UDP" => &UDP,
        "UDP6" => &UDP6,
        "STATE" => &STATE,
        "PROC" => &PROC,
        _ => return None,
    };
    Some(k)
}
