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
    /// The host's CPUs together (SOFT: sar's `all` row): stored protocol counters, per CPU,
    /// summed.
    Cpu,
}

impl Key {
    /// The heading of the key column in tables, and its CSV/JSON name.
    pub fn names(self) -> Option<(&'static str, &'static str)> {
        match self {
            Key::Iface => Some(("IFACE", "iface")),
            Key::Proc => Some(("COMMAND", "process")),
            Key::Cpu => Some(("CPU", "cpu")),
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

// sar's ICMP and IPv6 kinds: the counters of /proc/net/snmp (Icmp) and /proc/net/snmp6,
// sar's column for column (sysstat 12.6).

pub static ICMP: Kind = Kind {
    name: "ICMP",
    key: Key::Netns,
    inputs: &[
        i("InMsgs", Src::Ctr(&["snmp:Icmp:InMsgs"])),
        i("OutMsgs", Src::Ctr(&["snmp:Icmp:OutMsgs"])),
        i("InEchos", Src::Ctr(&["snmp:Icmp:InEchos"])),
        i("InEchoReps", Src::Ctr(&["snmp:Icmp:InEchoReps"])),
        i("OutEchos", Src::Ctr(&["snmp:Icmp:OutEchos"])),
        i("OutEchoReps", Src::Ctr(&["snmp:Icmp:OutEchoReps"])),
        i("InTimestamps", Src::Ctr(&["snmp:Icmp:InTimestamps"])),
        i("InTimestampReps", Src::Ctr(&["snmp:Icmp:InTimestampReps"])),
        i("OutTimestamps", Src::Ctr(&["snmp:Icmp:OutTimestamps"])),
        i(
            "OutTimestampReps",
            Src::Ctr(&["snmp:Icmp:OutTimestampReps"]),
        ),
        i("InAddrMasks", Src::Ctr(&["snmp:Icmp:InAddrMasks"])),
        i("InAddrMaskReps", Src::Ctr(&["snmp:Icmp:InAddrMaskReps"])),
        i("OutAddrMasks", Src::Ctr(&["snmp:Icmp:OutAddrMasks"])),
        i("OutAddrMaskReps", Src::Ctr(&["snmp:Icmp:OutAddrMaskReps"])),
    ],
    columns: &[
        rate("imsg/s", 0),
        rate("omsg/s", 1),
        rate("iech/s", 2),
        rate("iechr/s", 3),
        rate("oech/s", 4),
        rate("oechr/s", 5),
        rate("itm/s", 6),
        rate("itmr/s", 7),
        rate("otm/s", 8),
        rate("otmr/s", 9),
        rate("iadrmk/s", 10),
        rate("iadrmkr/s", 11),
        rate("oadrmk/s", 12),
        rate("oadrmkr/s", 13),
    ],
};

pub static EICMP: Kind = Kind {
    name: "EICMP",
    key: Key::Netns,
    inputs: &[
        i("InErrors", Src::Ctr(&["snmp:Icmp:InErrors"])),
        i("OutErrors", Src::Ctr(&["snmp:Icmp:OutErrors"])),
        i("InDestUnreachs", Src::Ctr(&["snmp:Icmp:InDestUnreachs"])),
        i("OutDestUnreachs", Src::Ctr(&["snmp:Icmp:OutDestUnreachs"])),
        i("InTimeExcds", Src::Ctr(&["snmp:Icmp:InTimeExcds"])),
        i("OutTimeExcds", Src::Ctr(&["snmp:Icmp:OutTimeExcds"])),
        i("InParmProbs", Src::Ctr(&["snmp:Icmp:InParmProbs"])),
        i("OutParmProbs", Src::Ctr(&["snmp:Icmp:OutParmProbs"])),
        i("InSrcQuenchs", Src::Ctr(&["snmp:Icmp:InSrcQuenchs"])),
        i("OutSrcQuenchs", Src::Ctr(&["snmp:Icmp:OutSrcQuenchs"])),
        i("InRedirects", Src::Ctr(&["snmp:Icmp:InRedirects"])),
        i("OutRedirects", Src::Ctr(&["snmp:Icmp:OutRedirects"])),
    ],
    columns: &[
        rate("ierr/s", 0),
        rate("oerr/s", 1),
        rate("idstunr/s", 2),
        rate("odstunr/s", 3),
        rate("itmex/s", 4),
        rate("otmex/s", 5),
        rate("iparmpb/s", 6),
        rate("oparmpb/s", 7),
        rate("isrcq/s", 8),
        rate("osrcq/s", 9),
        rate("iredir/s", 10),
        rate("oredir/s", 11),
    ],
};

pub static IP6: Kind = Kind {
    name: "IP6",
    key: Key::Netns,
    inputs: &[
        i("Ip6InReceives", Src::Ctr(&["snmp6:Ip6InReceives"])),
        i(
            "Ip6OutForwDatagrams",
            Src::Ctr(&["snmp6:Ip6OutForwDatagrams"]),
        ),
        i("Ip6InDelivers", Src::Ctr(&["snmp6:Ip6InDelivers"])),
        i("Ip6OutRequests", Src::Ctr(&["snmp6:Ip6OutRequests"])),
        i("Ip6ReasmReqds", Src::Ctr(&["snmp6:Ip6ReasmReqds"])),
        i("Ip6ReasmOKs", Src::Ctr(&["snmp6:Ip6ReasmOKs"])),
        i("Ip6InMcastPkts", Src::Ctr(&["snmp6:Ip6InMcastPkts"])),
        i("Ip6OutMcastPkts", Src::Ctr(&["snmp6:Ip6OutMcastPkts"])),
        i("Ip6FragOKs", Src::Ctr(&["snmp6:Ip6FragOKs"])),
        i("Ip6FragCreates", Src::Ctr(&["snmp6:Ip6FragCreates"])),
    ],
    columns: &[
        rate("irec6/s", 0),
        rate("fwddgm6/s", 1),
        rate("idel6/s", 2),
        rate("orq6/s", 3),
        rate("asmrq6/s", 4),
        rate("asmok6/s", 5),
        rate("imcpck6/s", 6),
        rate("omcpck6/s", 7),
        rate("fragok6/s", 8),
        rate("fragcr6/s", 9),
    ],
};

pub static EIP6: Kind = Kind {
    name: "EIP6",
    key: Key::Netns,
    inputs: &[
        i("Ip6InHdrErrors", Src::Ctr(&["snmp6:Ip6InHdrErrors"])),
        i("Ip6InAddrErrors", Src::Ctr(&["snmp6:Ip6InAddrErrors"])),
        i(
            "Ip6InUnknownProtos",
            Src::Ctr(&["snmp6:Ip6InUnknownProtos"]),
        ),
        i("Ip6InTooBigErrors", Src::Ctr(&["snmp6:Ip6InTooBigErrors"])),
        i("Ip6InDiscards", Src::Ctr(&["snmp6:Ip6InDiscards"])),
        i("Ip6OutDiscards", Src::Ctr(&["snmp6:Ip6OutDiscards"])),
        i("Ip6InNoRoutes", Src::Ctr(&["snmp6:Ip6InNoRoutes"])),
        i("Ip6OutNoRoutes", Src::Ctr(&["snmp6:Ip6OutNoRoutes"])),
        i("Ip6ReasmFails", Src::Ctr(&["snmp6:Ip6ReasmFails"])),
        i("Ip6FragFails", Src::Ctr(&["snmp6:Ip6FragFails"])),
        i(
            "Ip6InTruncatedPkts",
            Src::Ctr(&["snmp6:Ip6InTruncatedPkts"]),
        ),
    ],
    columns: &[
        rate("ihdrer6/s", 0),
        rate("iadrer6/s", 1),
        rate("iukwnp6/s", 2),
        rate("i2big6/s", 3),
        rate("idisc6/s", 4),
        rate("odisc6/s", 5),
        rate("inort6/s", 6),
        rate("onort6/s", 7),
        rate("asmf6/s", 8),
        rate("fragf6/s", 9),
        rate("itrpck6/s", 10),
    ],
};

pub static ICMP6: Kind = Kind {
    name: "ICMP6",
    key: Key::Netns,
    inputs: &[
        i("Icmp6InMsgs", Src::Ctr(&["snmp6:Icmp6InMsgs"])),
        i("Icmp6OutMsgs", Src::Ctr(&["snmp6:Icmp6OutMsgs"])),
        i("Icmp6InEchos", Src::Ctr(&["snmp6:Icmp6InEchos"])),
        i(
            "Icmp6InEchoReplies",
            Src::Ctr(&["snmp6:Icmp6InEchoReplies"]),
        ),
        i(
            "Icmp6OutEchoReplies",
            Src::Ctr(&["snmp6:Icmp6OutEchoReplies"]),
        ),
        i(
            "Icmp6InGroupMembQueries",
            Src::Ctr(&["snmp6:Icmp6InGroupMembQueries"]),
        ),
        i(
            "Icmp6InGroupMembResponses",
            Src::Ctr(&["snmp6:Icmp6InGroupMembResponses"]),
        ),
        i(
            "Icmp6OutGroupMembResponses",
            Src::Ctr(&["snmp6:Icmp6OutGroupMembResponses"]),
        ),
        i(
            "Icmp6InGroupMembReductions",
            Src::Ctr(&["snmp6:Icmp6InGroupMembReductions"]),
        ),
        i(
            "Icmp6OutGroupMembReductions",
            Src::Ctr(&["snmp6:Icmp6OutGroupMembReductions"]),
        ),
        i(
            "Icmp6InRouterSolicits",
            Src::Ctr(&["snmp6:Icmp6InRouterSolicits"]),
        ),
        i(
            "Icmp6OutRouterSolicits",
            Src::Ctr(&["snmp6:Icmp6OutRouterSolicits"]),
        ),
        i(
            "Icmp6InRouterAdvertisements",
            Src::Ctr(&["snmp6:Icmp6InRouterAdvertisements"]),
        ),
        i(
            "Icmp6InNeighborSolicits",
            Src::Ctr(&["snmp6:Icmp6InNeighborSolicits"]),
        ),
        i(
            "Icmp6OutNeighborSolicits",
            Src::Ctr(&["snmp6:Icmp6OutNeighborSolicits"]),
        ),
        i(
            "Icmp6InNeighborAdvertisements",
            Src::Ctr(&["snmp6:Icmp6InNeighborAdvertisements"]),
        ),
        i(
            "Icmp6OutNeighborAdvertisements",
            Src::Ctr(&["snmp6:Icmp6OutNeighborAdvertisements"]),
        ),
    ],
    columns: &[
        rate("imsg6/s", 0),
        rate("omsg6/s", 1),
        rate("iech6/s", 2),
        rate("iechr6/s", 3),
        rate("oechr6/s", 4),
        rate("igmbq6/s", 5),
        rate("igmbr6/s", 6),
        rate("ogmbr6/s", 7),
        rate("igmbrd6/s", 8),
        rate("ogmbrd6/s", 9),
        rate("irtsol6/s", 10),
        rate("ortsol6/s", 11),
        rate("irtad6/s", 12),
        rate("inbsol6/s", 13),
        rate("onbsol6/s", 14),
        rate("inbad6/s", 15),
        rate("onbad6/s", 16),
    ],
};

pub static EICMP6: Kind = Kind {
    name: "EICMP6",
    key: Key::Netns,
    inputs: &[
        i("Icmp6InErrors", Src::Ctr(&["snmp6:Icmp6InErrors"])),
        i(
            "Icmp6InDestUnreachs",
            Src::Ctr(&["snmp6:Icmp6InDestUnreachs"]),
        ),
        i(
            "Icmp6OutDestUnreachs",
            Src::Ctr(&["snmp6:Icmp6OutDestUnreachs"]),
        ),
        i("Icmp6InTimeExcds", Src::Ctr(&["snmp6:Icmp6InTimeExcds"])),
        i("Icmp6OutTimeExcds", Src::Ctr(&["snmp6:Icmp6OutTimeExcds"])),
        i(
            "Icmp6InParmProblems",
            Src::Ctr(&["snmp6:Icmp6InParmProblems"]),
        ),
        i(
            "Icmp6OutParmProblems",
            Src::Ctr(&["snmp6:Icmp6OutParmProblems"]),
        ),
        i("Icmp6InRedirects", Src::Ctr(&["snmp6:Icmp6InRedirects"])),
        i("Icmp6OutRedirects", Src::Ctr(&["snmp6:Icmp6OutRedirects"])),
        i("Icmp6InPktTooBigs", Src::Ctr(&["snmp6:Icmp6InPktTooBigs"])),
        i(
            "Icmp6OutPktTooBigs",
            Src::Ctr(&["snmp6:Icmp6OutPktTooBigs"]),
        ),
    ],
    columns: &[
        rate("ierr6/s", 0),
        rate("idtunr6/s", 1),
        rate("odtunr6/s", 2),
        rate("itmex6/s", 3),
        rate("otmex6/s", 4),
        rate("iprmpb6/s", 5),
        rate("oprmpb6/s", 6),
        rate("iredir6/s", 7),
        rate("oredir6/s", 8),
        rate("ipck2b6/s", 9),
        rate("opck2b6/s", 10),
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

/// Kinds in the order `-n ALL` prints them (sar's order, nrec's own last; LISTEN is not a
/// per-interval table and follows them). Every kind `-n` takes is one of these.
/// sar's SOFT: the kernel's receive path per CPU (/proc/net/softnet_stat), the CPUs summed
/// as sar's `all` row (sysstat 12.6's columns; `blg_len` is the backlog queues' length at the
/// sample, a gauge).
pub static SOFT: Kind = Kind {
    name: "SOFT",
    key: Key::Cpu,
    inputs: &[
        i("processed", Src::Ctr(&["softnet:processed:*"])),
        i("dropped", Src::Ctr(&["softnet:dropped:*"])),
        i("time_squeeze", Src::Ctr(&["softnet:time_squeeze:*"])),
        i("received_rps", Src::Ctr(&["softnet:received_rps:*"])),
        i(
            "flow_limit_count",
            Src::Ctr(&["softnet:flow_limit_count:*"]),
        ),
        i("backlog_len", Src::Gauge(&["softnet:backlog_len:*"])),
    ],
    columns: &[
        rate("total/s", 0),
        rate("dropd/s", 1),
        rate("squeezd/s", 2),
        rate("rx_rps/s", 3),
        rate("flw_lim/s", 4),
        mean("blg_len", 5),
    ],
};

pub static ALL: [&Kind; 19] = [
    &DEV, &EDEV, &SOCK, &IP, &EIP, &ICMP, &EICMP, &TCP, &ETCP, &UDP, &SOCK6, &IP6, &EIP6, &ICMP6,
    &EICMP6, &UDP6, &SOFT, &STATE, &PROC,
];

/// Every name `-n` accepts, in `-n ALL`'s order (shell completion offers these).
pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|k| k.name).chain(["LISTEN", "ALL"])
}

/// sar's kinds that are not network traffic nrec records.
pub const NOT_RECORDED: [&str; 3] = ["NFS", "NFSD", "FC"];

pub fn by_name(name: &str) -> Option<&'static Kind> {
    let name = name.to_ascii_uppercase();
    ALL.iter().copied().find(|k| k.name == name)
}
