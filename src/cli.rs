//! Command-line definition (clap derive). Raw arguments only: validation into settings
//! (windows, kinds, intervals) happens once in each subcommand's `run`.

use clap::{Args, Parser, Subcommand};
use nrec_model::time::WindowArgs;
use std::ffi::OsString;
use std::path::PathBuf;

/// How a command prints: a table for people, or data (`docs/OUTPUT.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal
    Table,
    /// RFC 4180 with a header row and a leading `host` column
    Csv,
    /// One document: the envelope (format_version, command, host, window) and the rows
    Json,
    /// One JSON object per row and line, each naming its host
    Ndjson,
    /// A picture: SVG charts of the same numbers (report, summary, top-*, proc)
    Svg,
    /// The same picture as a PNG image (status pages, chat)
    Png,
}

impl Format {
    /// `svg` or `png`: the command draws instead of printing.
    pub fn is_picture(self) -> bool {
        matches!(self, Format::Svg | Format::Png)
    }
}

impl From<Format> for nrec_report::output::Format {
    fn from(f: Format) -> Self {
        use nrec_report::output::Format as F;
        match f {
            Format::Table => F::Table,
            Format::Csv => F::Csv,
            Format::Json => F::Json,
            Format::Ndjson => F::Ndjson,
            Format::Svg => F::Svg,
            Format::Png => F::Png,
        }
    }
}

/// The default listen address of `nrec serve`: loopback, on a port outside 9100-9999 (the
/// range the Prometheus wiki's default port allocations has filled).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10091";

/// A `--format` that offers only what the command writes (`status`: table or json;
/// `export`: csv, json or ndjson), so `--help` and the error list the same choices.
fn formats(
    allowed: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(allowed).map(|s| match s.as_str() {
        "csv" => Format::Csv,
        "json" => Format::Json,
        "ndjson" => Format::Ndjson,
        "svg" => Format::Svg,
        "png" => Format::Png,
        _ => Format::Table,
    })
}

/// A remote address's scope (`nrec_model::scope`), as `--scope` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScopeArg {
    Loopback,
    Lan,
    Internet,
}

impl From<ScopeArg> for nrec_model::scope::Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Loopback => Self::Loopback,
            ScopeArg::Lan => Self::Lan,
            ScopeArg::Internet => Self::Internet,
        }
    }
}

/// What a `top-procs` row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Name,
    Exe,
    Unit,
    /// The container's name (its runtime's), else its short id; `(host)` outside containers
    Container,
    /// The Kubernetes pod as NAMESPACE/POD, where the runtime's labels name one
    Pod,
    /// The container's image
    Image,
    User,
    Pid,
    /// The remote hosts' scope: loopback, lan ([scopes] lan included), internet
    Scope,
    /// The remote hosts' address family: ipv4, ipv6
    Family,
}

impl From<By> for nrec_report::rank::By {
    fn from(b: By) -> Self {
        use nrec_report::rank::By as B;
        match b {
            By::Name => B::Name,
            By::Exe => B::Exe,
            By::Unit => B::Unit,
            By::Container => B::Container,
            By::Pod => B::Pod,
            By::Image => B::Image,
            By::User => B::User,
            By::Pid => B::Pid,
            By::Scope => B::Scope,
            By::Family => B::Family,
        }
    }
}

/// The series `nrec export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportTable {
    /// Interfaces: the 16 /proc/net/dev counters
    Iface,
    /// Protocol counters per namespace (one row per non-zero counter)
    Proto,
    /// Bytes per process
    Proc,
    /// Bytes per process and service port
    Port,
    /// Bytes per process and remote address
    Host,
    /// Socket bytes per namespace, and the part without a known process
    Attrib,
    /// Sampling: samples, intervals and time covered
    Time,
}

impl From<ExportTable> for nrec_store::rollup::Kind {
    fn from(t: ExportTable) -> Self {
        use nrec_store::rollup::Kind;
        match t {
            ExportTable::Iface => Kind::Iface,
            ExportTable::Proto => Kind::Proto,
            ExportTable::Proc => Kind::Proc,
            ExportTable::Port => Kind::Port,
            ExportTable::Host => Kind::Host,
            ExportTable::Attrib => Kind::Attrib,
            ExportTable::Time => Kind::Time,
        }
    }
}

/// Row resolution of `nrec export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Resolution {
    /// One row per sample interval
    Raw,
    /// Quarter hours
    #[value(name = "15m")]
    Quarter,
    /// Hours
    #[value(name = "1h")]
    Hour,
    /// UTC days
    #[value(name = "1d")]
    Day,
}

impl Resolution {
    /// The store's step: None for raw samples.
    pub fn step(self) -> Option<nrec_store::window::Step> {
        use nrec_store::window::Step;
        match self {
            Resolution::Raw => None,
            Resolution::Quarter => Some(Step::Quarter),
            Resolution::Hour => Some(Step::Hour),
            Resolution::Day => Some(Step::Day),
        }
    }
}

/// The heading of the options every command takes: listed after the command's own.
const GLOBAL: &str = "Global options";

#[derive(Parser, Debug)]
#[command(
    name = "nrec",
    version,
    about = "Network traffic history: interfaces, protocols and sockets, recorded into SQLite",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 database unusable, 4 lock held, \
                  5 permission denied, 6 disk full. See the README."
)]
pub struct Cli {
    /// Database path (sar's -f) [default: /var/lib/nrec/nrec.db as root, else $XDG_STATE_HOME/nrec/nrec.db]
    #[arg(short = 'f', long, global = true, env = crate::env::DB, value_name = "PATH", help_heading = GLOBAL)]
    pub db: Option<PathBuf>,

    /// Config file (TOML) [default: /etc/nrec/nrec.toml when it exists]
    #[arg(long, global = true, env = crate::env::CONFIG, value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// More detail on stderr (`record`: a summary line; `export`: the rows written)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// Only errors on stderr (and no OK line from `status --check`)
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Take one sample of every network namespace and append it to the database
    Record(RecordArgs),
    /// sar-style reports: -n DEV (default), EDEV, SOCK, IP, EIP, ICMP, EICMP, TCP, ETCP, UDP, SOCK6, IP6, EIP6, ICMP6, EICMP6, UDP6, SOFT, STATE, PROC, LISTEN, ALL (default window: today)
    Report(ReportArgs),
    /// Processes that moved the most bytes (default window: the last 24 h)
    TopProcs(TopProcsArgs),
    /// Service ports that moved the most bytes, with the processes behind each (default window: the last 24 h)
    TopPorts(TopArgs),
    /// Remote hosts that moved the most bytes, with the processes talking to them (default window: the last 24 h)
    TopHosts(TopArgs),
    /// One process's history: bytes per interval, its ports and remote hosts (default window: the last 24 h)
    Proc(ProcArgs),
    /// Live view (nethogs, iftop and nload in one screen): processes, connections, ports,
    /// hosts and interfaces now, with the recorded history behind them; -b prints batches
    Top(LiveArgs),
    /// vnstat-style traffic summaries per interface (or one process / port)
    Summary(SummaryArgs),
    /// One self-contained HTML page of a window (default: today): interface and socket
    /// graphs, top processes, ports and hosts, vnStat's views, the recorder's health
    Html(HtmlArgs),
    /// Stream the raw or rolled-up series of a table as CSV or JSON (default window: the last 24 h)
    Export(ExportArgs),
    /// Apply the retention of the config file now, to the end (`record` does it in small steps)
    Prune,
    /// Roll up samples not rolled up yet; --rebuild recomputes every rollup the raw rows cover
    Rollup(RollupArgs),
    /// Verify the database: integrity, schema version, rollups equal to their raw rows
    Check,
    /// Recording health: last sample, database, sources per namespace, privileges, coverage
    Status(StatusArgs),
    /// Sample continuously (SIGTERM: a last sample, then exit; SIGHUP: reload config, reopen db)
    Daemon(DaemonArgs),
    /// Answer Prometheus scrapes: GET /metrics (OpenMetrics or the classic text format) from the
    /// database, read-only
    Serve(ServeArgs),
    /// Push to the [[remote_write]] targets of the config now (record and the daemon push after
    /// every sample): everything each target has not acknowledged, within its deadline
    Push(PushArgs),
    /// Quotas and alerts of the config file: each rule, its current value, what fired when;
    /// --check exits 1 while a rule is over its limit
    Alerts(AlertsArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell); it completes
    /// commands, options, kinds and, from the database, interface, process and port names
    Completions(CompletionsArgs),
    /// Load the eBPF accounting programs and pin them under /sys/fs/bpf/nrec (record does this
    /// on its first run); --remove detaches them
    Setup(SetupArgs),
}

impl Command {
    /// The `--format` of a command that prints data or pictures.
    pub fn format(&self) -> Option<Format> {
        match self {
            Command::Report(a) => Some(a.format),
            Command::TopProcs(a) => Some(a.top.format),
            Command::TopPorts(a) | Command::TopHosts(a) => Some(a.format),
            Command::Proc(a) => Some(a.format),
            Command::Summary(a) => Some(a.format),
            _ => None,
        }
    }
}

#[derive(Args, Debug)]
pub struct AlertsArgs {
    /// Probe for cron and monitoring: exit 1 while any rule is over its limit (one line per
    /// rule over it), else 0
    #[arg(long, conflicts_with = "history")]
    pub check: bool,

    /// What fired when: every stored firing, newest first (at most 1000), with its value and
    /// what the rule's command did
    #[arg(long)]
    pub history: bool,

    /// Output format
    #[arg(long, default_value = "table", value_parser = formats(&["table", "csv", "json", "ndjson"]))]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_parser = crate::complete::values::SHELLS)]
    pub shell: String,
}

#[derive(Args, Debug)]
pub struct SetupArgs {
    /// Detach the programs and remove the pinned maps (per-process bytes fall back to sock_diag)
    #[arg(long)]
    pub remove: bool,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Time between samples
    #[arg(long, default_value = "10s", value_name = "SPAN")]
    pub interval: String,

    /// Read a captured /proc tree as one namespace (as `record --proc-root`)
    #[arg(long, env = crate::env::PROC_ROOT, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,

    /// Do not push to the [[remote_write]] targets after each sample (the packaged unit:
    /// nrec-push.timer pushes every minute, with network access and no capability)
    #[arg(long)]
    pub no_push: bool,
}

#[derive(Args, Debug)]
pub struct HtmlArgs {
    #[command(flatten)]
    pub window: WindowOpts,

    /// Rows in each top list
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Output format
    #[arg(long, default_value = "table", value_parser = formats(&["table", "json"]))]
    pub format: Format,

    /// Health check: exit 0 when healthy, else print one line per problem and exit 1 (a
    /// stale last sample, eBPF calls lost to a full map, coverage below --min-coverage,
    /// `nrec check` failures); for systemd OnFailure=, cron and Nagios-style probes
    #[arg(long)]
    pub check: bool,

    /// The window the last-traffic line and --check look at (lost eBPF calls, coverage)
    #[arg(long, default_value = "1h", value_name = "SPAN")]
    pub since: String,

    /// With --check: the least share of interface bytes (percent) that must be attributed
    /// to processes in the window (default: not checked)
    #[arg(long, value_name = "PERCENT", requires = "check")]
    pub min_coverage: Option<f64>,
}

#[derive(Args, Debug)]
pub struct RollupArgs {
    /// Drop and recompute the rollups of every day whose raw samples are still stored
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("view").args(["hourly", "daily", "monthly", "yearly", "top_days"])))]
#[command(group(clap::ArgGroup::new("what").args(["proc", "port"])))]
pub struct SummaryArgs {
    /// Per hour (default window: the last 24 hours)
    #[arg(long)]
    pub hourly: bool,
    /// Per local day (vnStat's -d; default window: the last 30 days)
    #[arg(short = 'd', long)]
    pub daily: bool,
    /// Per local month (vnStat's -m; default window: the last 12 months)
    #[arg(short = 'm', long)]
    pub monthly: bool,
    /// Per local year (vnStat's -y; default window: everything stored)
    #[arg(short = 'y', long)]
    pub yearly: bool,
    /// The N busiest local days (vnStat's -t: 10 without N; default window: everything stored)
    #[arg(short = 't', long, value_name = "N", num_args = 0..=1, default_missing_value = "10")]
    pub top_days: Option<usize>,
    /// Per 5 minutes (vnStat's -5; default window: the last 24 hours)
    #[arg(short = '5', long)]
    pub fiveminutes: bool,
    /// The last 24 hours as a text graph per interface (vnStat's -hg)
    #[arg(long, visible_alias = "hg")]
    pub hours_graph: bool,
    /// vnStat's one-line format per interface: `1;IFACE;DAY;RX;TX;TOTAL;RATE;MONTH;RX;TX;
    /// TOTAL;RATE;ALL RX;ALL TX;ALL TOTAL` (`--oneline b`: bytes and bits/s as integers)
    #[arg(long, value_name = "b", num_args = 0..=1, default_missing_value = "", value_parser = ["", "b"])]
    pub oneline: Option<String>,
    /// The 95th percentile of the window's 5-minute rates (vnStat's --95th, burstable
    /// billing): rx, tx and the larger of the two per interval, and how many intervals were
    /// above (default window: this month so far)
    #[arg(long = "95th", conflicts_with_all = ["hourly", "daily", "monthly", "yearly", "top_days", "fiveminutes", "hours_graph", "oneline"])]
    pub p95: bool,
    /// One process (comm) instead of the interfaces
    #[arg(long, value_name = "NAME", add = crate::complete::values::procs())]
    pub proc: Option<OsString>,
    /// One service port (all processes, TCP) instead of the interfaces: a number or a
    /// name from /etc/services (https)
    #[arg(long, value_name = "PORT", add = crate::complete::values::ports())]
    pub port: Option<String>,
    /// The bytes with hosts of this scope instead of the interfaces (every process, or the
    /// --proc NAME): internet is what crossed the uplink, as a `scope` quota counts it
    #[arg(long, value_enum, conflicts_with_all = ["port", "iface", "container"])]
    pub scope: Option<ScopeArg>,
    /// Only these interfaces (comma-separated), named as reports print them: `eth0` is the
    /// host's, `eth0@NETNS` a namespace's; shell patterns on each part (`veth*`, `*@*`)
    #[arg(short = 'i', long, value_delimiter = ',', value_name = "IFACE", add = crate::complete::values::ifaces())]
    pub iface: Vec<OsString>,
    /// The interfaces of this container's network namespace (named after it): vnStat's views
    /// of one container
    #[arg(long, value_name = "NAME", conflicts_with_all = ["proc", "port"])]
    pub container: Option<OsString>,

    #[command(flatten)]
    pub window: WindowOpts,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The series to export (with --format openmetrics: optional, narrows the families)
    #[arg(value_enum)]
    pub table: Option<ExportTable>,

    /// Row resolution (with --format openmetrics and a window: the history's points)
    /// [default: raw rows wherever raw samples are stored, the finest rollups for the part of
    /// the window retention pruned]
    #[arg(long, value_enum)]
    pub resolution: Option<Resolution>,

    /// Only this container's series: its processes (proc, port, host) or its network
    /// namespace, named after it (iface, proto, attrib)
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Only these interfaces (comma-separated), named as reports print them: `eth0` is the
    /// host's, `eth0@NETNS` a namespace's; shell patterns on each part (`veth*`, `*@*`)
    /// (the iface table and the interface metrics)
    #[arg(short = 'i', long, value_delimiter = ',', value_name = "IFACE", add = crate::complete::values::ifaces())]
    pub iface: Vec<OsString>,

    /// Only these network namespaces (a name as printed, `root` for the host's, or a
    /// pattern): the iface, proto and attrib tables and the interface metrics
    #[arg(long, value_name = "NETNS", conflicts_with = "container")]
    pub netns: Option<OsString>,

    #[command(flatten)]
    pub window: WindowOpts,

    /// Output format; openmetrics: the metrics of `nrec serve` (no window: current values;
    /// with a window: timestamped history for `promtool tsdb create-blocks-from openmetrics`)
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,

    /// With --format openmetrics: write the current values atomically to DIR/nrec.prom, for
    /// node_exporter's textfile collector (Prometheus text format)
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
}

/// `nrec export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Ndjson,
    Openmetrics,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on (any address; port 0 picks a free one), or unix:PATH for
    /// a socket file of mode 0660 (its owner and group only)
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR:PORT|unix:PATH")]
    pub listen: String,

    /// TLS and basic authentication from an exporter web configuration file (the
    /// --web.config.file of Prometheus' exporters; default: [serve] web_config of the config)
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Only the target of this name (its `name`, or its URL)
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
}

#[derive(Args, Debug)]
pub struct ProcArgs {
    /// A process name (comm) or PID
    #[arg(add = crate::complete::values::procs())]
    pub target: OsString,

    #[command(flatten)]
    pub window: WindowOpts,

    /// Only the bytes with hosts of this scope (loopback; lan: private, CGNAT, link-local and
    /// unique-local space and [scopes] lan — for ports the built-in ranges only; internet:
    /// the rest): each interval's, and the hosts and ports of that scope
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Batch mode (like top -b, nethogs -t): print a block of rows per refresh, no screen
    #[arg(short = 'b', long)]
    pub batch: bool,

    /// Batch mode: how many refreshes to print (default: until interrupted)
    #[arg(short = 'n', long = "iterations", value_name = "COUNT")]
    pub count: Option<u64>,

    /// Seconds between refreshes (0.2 to 3600)
    #[arg(
        short = 'd',
        long = "delay",
        value_name = "SECONDS",
        default_value_t = 1.0
    )]
    pub delay: f64,

    /// The view batch mode prints and the screen opens with
    #[arg(long, value_enum, default_value_t = crate::live::view::View::Procs)]
    pub view: crate::live::view::View,

    /// What a process row is
    #[arg(long, value_enum, default_value_t = crate::live::view::By::Name)]
    pub by: crate::live::view::By,

    /// The column rows are sorted by
    #[arg(long, value_enum, default_value_t = crate::live::view::Sort::Rate)]
    pub sort: crate::live::view::Sort,

    /// Batch mode: at most this many rows per refresh besides (unattributed)
    #[arg(long)]
    pub limit: Option<usize>,

    /// Never load a private eBPF instance (root, when the recorder's is not pinned): count
    /// processes from their TCP connections only
    #[arg(long)]
    pub no_ebpf: bool,

    /// Batch mode's output format (table, csv, json, ndjson)
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct TopProcsArgs {
    /// What a row is
    #[arg(long, value_enum, default_value_t = By::Name)]
    pub by: By,

    #[command(flatten)]
    pub top: TopArgs,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    /// How many rows (the rest is one `(other …)` row)
    #[arg(long, default_value_t = 10)]
    pub limit: usize,

    /// Only the processes of this container (its name as its runtime gave it, or its id:
    /// 12 or more hex digits), against the interfaces of its network namespace
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,

    /// Rank only the bytes with hosts of this scope (loopback; lan: private, CGNAT,
    /// link-local and unique-local space and [scopes] lan — for ports the built-in ranges
    /// only; internet: the rest); the others are in the (other …) row, so the rows still add
    /// up
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,

    #[command(flatten)]
    pub window: WindowOpts,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Read a captured /proc tree (DIR/net/dev, DIR/net/snmp, DIR/uptime, ...) as one namespace
    #[arg(long, env = crate::env::PROC_ROOT, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,

    /// Do not push to the [[remote_write]] targets after the sample (the packaged timer: its
    /// pushes run in nrec-push.service, which has network access and no capability)
    #[arg(long)]
    pub no_push: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct WindowOpts {
    /// Today, from local midnight
    #[arg(long)]
    pub today: bool,
    /// The previous local calendar day (23 or 25 hours on DST days)
    #[arg(long)]
    pub yesterday: bool,
    /// One local calendar day
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Start: a span back from now (7d, 36h, 90m) or a date / date-time
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// End (exclusive): a span back from now or a date / date-time [default: now]
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// sar's -s: start at this time of day within the chosen day (HH:MM[:SS])
    #[arg(short = 's', long = "start-time", value_name = "HH:MM[:SS]")]
    pub start_time: Option<String>,
    /// sar's -e: end at this time of day within the chosen day (HH:MM[:SS])
    #[arg(short = 'e', long = "end-time", value_name = "HH:MM[:SS]")]
    pub end_time: Option<String>,
}

impl WindowOpts {
    /// Whether any window option was given.
    pub fn given(&self) -> bool {
        !self.to_argv().is_empty()
    }

    /// The options as arguments again (what `nrec html` passes to the views it composes).
    pub fn to_argv(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if self.today {
            v.push("--today".into());
        }
        if self.yesterday {
            v.push("--yesterday".into());
        }
        for (flag, val) in [
            ("--date", &self.date),
            ("--since", &self.since),
            ("--until", &self.until),
            ("--start-time", &self.start_time),
            ("--end-time", &self.end_time),
        ] {
            if let Some(x) = val {
                v.push(format!("{flag}={x}"));
            }
        }
        v
    }

    pub fn to_args(&self) -> WindowArgs {
        WindowArgs {
            today: self.today,
            yesterday: self.yesterday,
            date: self.date.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            start_time: self.start_time.clone(),
            end_time: self.end_time.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Report kinds, comma-separated: DEV EDEV SOCK IP EIP ICMP EICMP TCP ETCP UDP SOCK6 IP6 EIP6
    /// ICMP6 EICMP6 UDP6 SOFT (sar's), STATE PROC LISTEN (nrec's), ALL; sar's NFS, NFSD and FC
    /// are not network traffic nrec records
    #[arg(
        short = 'n',
        value_delimiter = ',',
        default_value = "DEV",
        value_name = "KIND",
        add = crate::complete::values::kinds()
    )]
    pub kinds: Vec<String>,

    /// Only these interfaces (comma-separated), named as reports print them: `eth0` is the
    /// host's, `eth0@NETNS` a namespace's; shell patterns on each part (`veth*`, `*@*`)
    #[arg(short = 'i', long, value_delimiter = ',', value_name = "IFACE", add = crate::complete::values::ifaces())]
    pub iface: Vec<OsString>,

    /// Only interfaces and namespace rows of these network namespaces (a name as printed,
    /// `root` for the host's, or a pattern)
    #[arg(long, value_name = "NETNS")]
    pub netns: Option<OsString>,

    /// Only the network namespace of this container (named after it): its interfaces are
    /// the container's NET I/O, as `docker stats` shows it, with history
    #[arg(long, value_name = "NAME", conflicts_with = "netns")]
    pub container: Option<OsString>,

    /// Omit rows with no activity during the interval (sar -z)
    #[arg(short = 'z')]
    pub omit_idle: bool,

    /// Sizes with units (k, M, G) instead of kB/s
    #[arg(long)]
    pub human: bool,

    /// Resample to coarser intervals, e.g. 10m or 1h
    #[arg(long, value_name = "SPAN")]
    pub interval: Option<String>,

    #[command(flatten)]
    pub window: WindowOpts,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
