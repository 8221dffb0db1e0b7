//! `nrec top`'s full-screen view (ratatui on crossterm): a table per view, the interfaces'
//! scrolling graph, the selected row's recorded history, keys to switch, sort, filter and
//! pause. The terminal is restored on every way out: `q`, SIGINT/SIGTERM/SIGHUP (a closed
//! terminal), an error, a panic.

use super::Reader;
use super::chart;
use super::history::History;
use super::view::{self, By, Row, Sort, Totals, View};
use nrec_model::error::{Error, Result};
use nrec_model::names::escape_text;
use nrec_report::output::units::bytes as size;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Sparkline, Table, TableState, Wrap,
};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How many refreshes the interfaces' graph keeps (nload's scrolling window).
const GRAPH: usize = 300;

/// Puts the terminal back as it was: raw mode off, the main screen, the cursor shown.
fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

/// A row's recorded history as last read: for (view, by, key, day), when, what.
type Recorded = (
    (View, By, String, bool),
    Instant,
    std::result::Result<Option<super::history::Recorded>, String>,
);

/// The session's state.
struct App {
    view: View,
    by: By,
    sort: Sort,
    filter: String,
    /// `[aliases]`: shown next to interface names and matched by the filter.
    aliases: nrec_model::names::Aliases,
    editing: bool,
    paused: bool,
    help: bool,
    /// Hour (false) or day (true) of history.
    day: bool,
    table: TableState,
    /// The selected row's key: the selection follows it across refreshes and re-sorts
    /// (None: the first row).
    selected: Option<String>,
    /// Rows to move the selection by at the next draw (↑ ↓), where the rows are known.
    moved: isize,
    tick: Option<super::Tick>,
    totals: Totals,
    /// Per interface label: the last [`GRAPH`] intervals' rates (rx, tx), bytes/s.
    graph: HashMap<String, VecDeque<(u64, u64)>>,
    history: History,
    /// (view, by, key, day) → the recorded history and when it was read.
    recorded: Option<Recorded>,
    host: String,
    delay: Duration,
    /// Stepping back through recorded intervals: how many before the newest (None: live).
    past: Option<usize>,
    /// The recorded interval on screen, for (view, by, sort, back).
    past_rows: Option<PastRows>,
    clock: crate::clock::Clock,
    /// The zone of the charts' time axes.
    tz: jiff::tz::TimeZone,
}

/// A recorded interval as last read: for (view, by, sort, back), what.
type PastRows = (
    (View, By, Sort, usize),
    std::result::Result<Option<super::history::Past>, String>,
);

/// Runs the full-screen view until `q` or a signal (`sys::stop_on_signals`, installed by the
/// caller).
pub fn run(
    mut reader: Reader,
    delay: Duration,
    db: &std::path::Path,
    args: &crate::cli::LiveArgs,
    aliases: &nrec_model::names::Aliases,
) -> Result<()> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        prev(info);
    }));
    terminal::enable_raw_mode().map_err(|e| Error::failure(format!("terminal: {e}")))?;
    let mut out = std::io::stdout();
    if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
        restore();
        return Err(Error::failure(format!("terminal: {e}")));
    }
    let result = (|| {
        let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))
            .map_err(|e| Error::failure(format!("terminal: {e}")))?;
        let (host, _, _) = nrec_sys::uname();
        let mut app = App {
            view: args.view,
            by: args.by,
            sort: args.sort,
            filter: String::new(),
            aliases: aliases.clone(),
            editing: false,
            paused: false,
            help: false,
            day: false,
            table: TableState::default().with_selected(Some(0)),
            selected: None,
            moved: 0,
            tick: None,
            totals: Totals::default(),
            graph: HashMap::new(),
            history: History::open(db),
            recorded: None,
            host: nrec_model::names::escape_bytes(&host),
            delay,
            past: None,
            past_rows: None,
            clock: crate::clock::Clock::from_env()?.advancing(),
            tz: crate::clock::display_zone()?,
        };
        reader.tick(app.clock.now().as_millisecond(), app.view.of_conns())?;
        let mut next = Instant::now() + delay;
        loop {
            if nrec_sys::stopped() {
                return Ok(());
            }
            if Instant::now() >= next {
                next += delay;
                if next < Instant::now() {
                    next = Instant::now() + delay;
                }
                // the sockets are read only while a view shows them (when eBPF counts the
                // processes: the socket dump is most of a refresh's cost)
                let conns = app.view.of_conns();
                if let Some(t) = reader.tick(app.clock.now().as_millisecond(), conns)? {
                    for i in &t.ifaces {
                        let g = app.graph.entry(i.label.clone()).or_default();
                        g.push_back(((i.rx as f64 / t.secs) as u64, (i.tx as f64 / t.secs) as u64));
                        while g.len() > GRAPH {
                            g.pop_front();
                        }
                    }
                    app.totals.add(&t);
                    if !app.paused {
                        app.tick = Some(t);
                    }
                }
            }
            let limits = reader.limits.clone();
            let source = if app.view.of_conns() {
                ("connections", reader.conns_source())
            } else {
                ("processes", reader.source())
            };
            term.draw(|f| draw(f, &mut app, &limits, source))
                .map_err(|e| Error::failure(format!("terminal: {e}")))?;
            #[cfg(feature = "test-hooks")]
            if std::env::var_os("NREC_TEST_PANIC").is_some() {
                panic!("NREC_TEST_PANIC: a panic on the screen (test hook)");
            }
            // wait on the terminal ourselves: crossterm's reader spins on a hung-up terminal
            // (a read of 0 bytes is retried forever), so it is only asked for the events
            // already there; a signal cuts the wait short
            let wait = next.saturating_duration_since(Instant::now());
            if hung_up(wait.min(Duration::from_millis(200))) {
                return Ok(());
            }
            while event::poll(Duration::ZERO)
                .map_err(|e| Error::failure(format!("terminal: {e}")))?
            {
                match event::read().map_err(|e| Error::failure(format!("terminal: {e}")))? {
                    Event::Key(k)
                        if k.kind != KeyEventKind::Release
                            && !key(&mut app, k.code, k.modifiers) =>
                    {
                        return Ok(());
                    }
                    Event::Resize(_, _) => {
                        term.autoresize()
                            .map_err(|e| Error::failure(format!("terminal: {e}")))?;
                    }
                    _ => {}
                }
            }
        }
    })();
    restore();
    result
}

/// Waits up to `d` for input on the terminal (standard input); true when it hung up (a
/// closed window, a killed tmux): then there is nobody to draw for.
fn hung_up(d: Duration) -> bool {
    let mut p = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; EINTR (a signal) just ends the wait
    let n = unsafe { libc::poll(&mut p, 1, d.as_millis().min(1000) as libc::c_int) };
    n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Handles a key; false: quit.
fn key(app: &mut App, code: KeyCode, mods: KeyModifiers) -> bool {
    if app.editing {
        match code {
            KeyCode::Enter => app.editing = false,
            KeyCode::Esc => {
                app.editing = false;
                app.filter.clear();
            }
            KeyCode::Backspace => {
                app.filter.pop();
            }
            KeyCode::Char(c) if !c.is_control() && app.filter.chars().count() < 64 => {
                app.filter.push(c)
            }
            _ => {}
        }
        app.selected = None;
        return true;
    }
    if app.help {
        app.help = false;
        return !matches!(code, KeyCode::Char('q'));
    }
    let cycle = |all: &[View], v: View, d: isize| {
        let i = all.iter().position(|x| *x == v).unwrap_or(0) as isize;
        all[((i + d).rem_euclid(all.len() as isize)) as usize]
    };
    let (view, by) = (app.view, app.by);
    match code {
        KeyCode::Char('q') | KeyCode::Esc => return false,
        KeyCode::Char('c') if mods.contains(KeyModifiers::CONTROL) => return false,
        KeyCode::Char('1') | KeyCode::Char('p') => app.view = View::Procs,
        KeyCode::Char('2') | KeyCode::Char('c') => app.view = View::Conns,
        KeyCode::Char('3') | KeyCode::Char('o') => app.view = View::Ports,
        KeyCode::Char('4') | KeyCode::Char('h') => app.view = View::Hosts,
        KeyCode::Char('5') | KeyCode::Char('i') => app.view = View::Ifaces,
        KeyCode::Tab => app.view = cycle(&View::ALL, app.view, 1),
        KeyCode::BackTab => app.view = cycle(&View::ALL, app.view, -1),
        KeyCode::Char('b') => {
            let i = By::ALL.iter().position(|x| *x == app.by).unwrap_or(0);
            app.by = By::ALL[(i + 1) % By::ALL.len()];
        }
        KeyCode::Char('s') => {
            let i = Sort::ALL.iter().position(|x| *x == app.sort).unwrap_or(0);
            app.sort = Sort::ALL[(i + 1) % Sort::ALL.len()];
        }
        KeyCode::Char('/') => {
            app.editing = true;
            app.filter.clear();
        }
        KeyCode::Char(' ') => app.paused = !app.paused,
        KeyCode::Char('?') => app.help = true,
        KeyCode::Char('H') => app.day = !app.day,
        // step back through recorded intervals, and forward to live again
        KeyCode::Char('[') => app.past = Some(app.past.map_or(0, |b| b + 1)),
        KeyCode::Char(']') => app.past = app.past.and_then(|b| b.checked_sub(1)),
        KeyCode::Char('L') => app.past = None,
        KeyCode::Down | KeyCode::Char('j') => app.moved += 1,
        KeyCode::Up | KeyCode::Char('k') => app.moved -= 1,
        _ => {}
    }
    // another view's rows: its first row
    if (app.view, app.by) != (view, by) {
        app.selected = None;
        app.moved = 0;
    }
    true
}

/// Places the selection on `rows` (issue 31 item 4: it was a row position, so a re-sort
/// put the highlight and the history under the table on another process): on the row of
/// the key ↑ ↓ selected, wherever it moved; a pending ↑ ↓ from there; the first row while
/// nothing was chosen. Returns the key whose history is shown and, when that key has no row
/// this refresh, the key again (it stays selected, its history stays shown, nothing is
/// highlighted).
fn place_selection(app: &mut App, rows: &[Row]) -> (Option<String>, Option<String>) {
    let found = app
        .selected
        .as_ref()
        .and_then(|k| rows.iter().position(|r| &r.key == k));
    let moved = std::mem::take(&mut app.moved);
    if moved != 0 && !rows.is_empty() {
        let from = found.or(app.table.selected()).unwrap_or(0) as isize;
        let i = (from + moved).clamp(0, rows.len() as isize - 1) as usize;
        app.selected = Some(rows[i].key.clone());
    }
    match &app.selected {
        None => {
            app.table.select((!rows.is_empty()).then_some(0));
            (rows.first().map(|r| r.key.clone()), None)
        }
        Some(k) => {
            let at = rows.iter().position(|r| &r.key == k);
            app.table.select(at);
            (Some(k.clone()), at.is_none().then(|| k.clone()))
        }
    }
}

/// A rate in bytes per second, as the tables print sizes.
fn rate(b: u64, secs: f64) -> String {
    format!("{}/s", size((b as f64 / secs.max(0.001)) as u64))
}

/// `source`: what the view's rows are and where they are counted from.
fn draw(f: &mut ratatui::Frame, app: &mut App, limits: &[String], source: (&str, &str)) {
    let area = f.area();
    let empty = super::Tick::default();
    let t = app.tick.as_ref().unwrap_or(&empty);
    let live = view::rows(
        t,
        &app.totals,
        app.view,
        app.by,
        app.sort,
        &app.filter,
        &app.aliases,
    );
    // a sample stored since the history and recorded intervals were read: read them again
    if app.history.changed() {
        app.recorded = None;
        app.past_rows = None;
    }
    // what the connection views' numbers cover, when eBPF counts the processes and the
    // sockets are read only while such a view is shown
    let conns_note = if app.view.of_conns() && app.tick.is_some() && live.is_none() {
        Some(
            "reading the connections (only while a connection view is shown: eBPF counts \
              the processes): rates from the next refresh"
                .to_string(),
        )
    } else if app.view.of_conns() && app.totals.conns_secs + 0.5 < app.totals.secs {
        Some(format!(
            "TOTAL: the {:.0} s of {:.0} s a connection view was shown (the connections are \
             read only then: eBPF counts the processes)",
            app.totals.conns_secs, app.totals.secs
        ))
    } else {
        None
    }
    .filter(|_| app.past.is_none());
    let mut rows = live.unwrap_or_default();
    // the interfaces' graph: rx and tx (a title and three rows each) and a time axis
    let graph_h = if app.view == View::Ifaces { 9 } else { 0 };
    let head_h = 2 + limits.len().min(2) + usize::from(conns_note.is_some());
    let chunks = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(head_h as u16),
            Constraint::Min(5),
            Constraint::Length(graph_h),
            Constraint::Length(5),
            Constraint::Length(1),
        ])
        .split(area);
    // a recorded interval instead of the live one: (start, end) and its rows
    let mut recorded_span = None;
    let mut recorded_note = None;
    if let Some(back) = app.past {
        let want = (app.view, app.by, app.sort, back);
        if app.past_rows.as_ref().is_none_or(|(k, _)| *k != want) {
            let r = app.history.interval(app.view, app.by, app.sort, back);
            app.past_rows = Some((want, r));
        }
        match app.past_rows.as_ref().map(|(_, r)| r) {
            Some(Ok(Some(p))) => {
                recorded_span = Some((p.start_ms, p.end_ms));
                rows = p.rows.clone();
            }
            Some(Ok(None)) => {
                recorded_note = Some(match app.history.unavailable() {
                    Some(why) => format!("no recorded intervals: {why}"),
                    None if app.view == View::Conns => {
                        "connections are not recorded one by one: see ports and hosts".into()
                    }
                    None => "no recorded interval that far back".into(),
                });
                rows.clear();
            }
            Some(Err(e)) => {
                recorded_note = Some(format!("reading the database: {e}"));
                rows.clear();
            }
            None => {}
        }
    }
    // header: host, refresh, source, what the interfaces carry in all
    let (irx, itx) = t
        .ifaces
        .iter()
        .fold((0, 0), |a, i| (a.0 + i.rx, a.1 + i.tx));
    let mut head = vec![
        Line::from(vec![
            Span::styled(
                format!("nrec top — {} ", app.host),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "— every {} s — {} from {}{}",
                app.delay.as_secs_f64(),
                source.0,
                source.1,
                if app.paused { " — PAUSED" } else { "" }
            )),
        ]),
        Line::from(format!(
            "interfaces rx {} tx {} │ {}{} │ sort {}{}",
            rate(irx, t.secs),
            rate(itx, t.secs),
            app.view.name(),
            if app.view == View::Procs {
                format!(" by {}", app.by.name())
            } else {
                String::new()
            },
            app.sort.name(),
            if app.filter.is_empty() {
                String::new()
            } else {
                format!(" │ filter {}", escape_text(&app.filter))
            }
        )),
    ];
    if let Some(back) = app.past {
        let what = match (recorded_span, &recorded_note) {
            (Some((a, b)), _) => {
                let tz = jiff::tz::TimeZone::system();
                format!(
                    "RECORDED interval {} – {} ({:.1} s)",
                    nrec_report::output::local_text(a, &tz),
                    nrec_report::output::hms(b, &tz),
                    (b - a) as f64 / 1000.0
                )
            }
            (None, Some(n)) => escape_text(n),
            (None, None) => String::new(),
        };
        head[1] = Line::styled(
            format!("{what} — {back} back from the newest sample — [ older  ] newer  L live"),
            Style::default()
                .fg(Color::Magenta)
                .add_modifier(Modifier::BOLD),
        );
    }
    if let Some(n) = conns_note {
        head.push(Line::styled(n, Style::default().fg(Color::Cyan)));
    }
    for l in limits.iter().take(2) {
        head.push(Line::styled(l.clone(), Style::default().fg(Color::Yellow)));
    }
    f.render_widget(Paragraph::new(head), chunks[0]);
    let secs = match recorded_span {
        Some((a, b)) => (b - a) as f64 / 1000.0,
        None => t.secs,
    };
    let (shown, gone) = place_selection(app, &rows);
    table(f, app, &rows, secs, chunks[1]);
    let selected = shown.filter(|k| !rows.iter().any(|r| r.rest && &r.key == k));
    if app.view == View::Ifaces && app.past.is_none() {
        iface_graph(f, app, selected.as_deref(), chunks[2]);
    }
    history(f, app, selected.as_deref(), chunks[3]);
    let foot = if app.editing {
        format!(
            "filter: {}▏ (Enter: keep, Esc: clear)",
            escape_text(&app.filter)
        )
    } else if let Some(k) = &gone {
        format!(
            "selected {}: no bytes this refresh (idle, or gone) — its history stays below; ↑↓ selects another",
            escape_text(k)
        )
    } else {
        "q quit  1-5 view  b by  s sort  / filter  ␣ pause  [ ] past  ↑↓ select  ? help".into()
    };
    f.render_widget(
        Paragraph::new(foot).style(Style::default().add_modifier(Modifier::REVERSED)),
        chunks[4],
    );
    if app.help {
        // as wide and tall as the text (borders and a margin around it), centred; a
        // narrower terminal wraps the lines instead of cutting them
        let w = HELP.lines().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4;
        let h = HELP.lines().count() as u16 + 2;
        let width = w.min(area.width);
        let height = h.min(area.height);
        let r = Rect {
            x: (area.width - width) / 2,
            y: (area.height - height) / 2,
            width,
            height,
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(HELP).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" help ")
                    .padding(ratatui::widgets::Padding::horizontal(1)),
            ),
            r,
        );
    }
}

const HELP: &str = "1 p  processes (by name, pid, unit, container, user: b)
2 c  connections (local port ↔ remote, owner)
3 o  service ports
4 h  remote hosts
5 i  interfaces, every namespace, with their graph
Tab  next view     s  sort: rate, rx, tx, total, name
/    filter rows (Enter keeps it, Esc clears it)
space  pause (the totals keep counting)
↑ ↓  select a row: its recorded history below
H    history of the last hour / day
[ ]  step back (and forward) through recorded intervals:
     the same view from the database; L live again
q    quit (the terminal is restored)
Rates are per second over the last refresh; TOTAL since
`nrec top` started (connections: while shown, with eBPF).
(unattributed): what the interfaces carried that no row
accounts for.";

fn table(f: &mut ratatui::Frame, app: &mut App, rows: &[Row], secs: f64, area: Rect) {
    let detail_head = match app.view {
        View::Conns => "PROCESS",
        View::Ifaces => "",
        View::Procs if matches!(app.by, By::Name | By::Pid) => "",
        _ => "PROCESSES",
    };
    let head_text = [
        app.view.head(app.by),
        "RX/s",
        "TX/s",
        "RX TOTAL",
        "TX TOTAL",
        detail_head,
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                // an interface with its alias (`[aliases]`), as every table shows it
                escape_text(&if app.view == View::Ifaces {
                    app.aliases.shown_label(&r.key)
                } else {
                    r.key.clone()
                }),
                rate(r.rx, secs),
                rate(r.tx, secs),
                size(r.rx_total),
                size(r.tx_total),
                escape_text(&r.detail),
            ]
        })
        .collect();
    // columns as wide as what they hold (issue 31 item 6: fixed widths left the last column
    // 5 characters at 80 columns while the others had room); the key column gives way to
    // the numbers on a narrow terminal, the last column takes what is left
    let need = |c: usize| {
        cells
            .iter()
            .map(|r| r[c].chars().count())
            .chain([head_text[c].chars().count()])
            .max()
            .unwrap_or(0) as u16
    };
    // numbers at least as wide as "999.9 KiB/s" and "999.9 MiB": they do not jitter
    let widths: Vec<u16> = (0..5).map(|c| need(c).max([0, 11, 11, 9, 9][c])).collect();
    let numbers: u16 = widths[1..].iter().sum::<u16>() + 5;
    let key_w = widths[0].clamp(8, area.width.saturating_sub(numbers + 8).max(8));
    let head = ratatui::widgets::Row::new(head_text.map(Cell::from))
        .style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let body = rows.iter().zip(cells).map(|(r, c)| {
        let row = ratatui::widgets::Row::new(c.map(Cell::from));
        if r.rest {
            row.style(Style::default().fg(Color::DarkGray))
        } else {
            row
        }
    });
    let t = Table::new(
        body,
        [
            Constraint::Length(key_w),
            Constraint::Length(widths[1]),
            Constraint::Length(widths[2]),
            Constraint::Length(widths[3]),
            Constraint::Length(widths[4]),
            Constraint::Fill(1),
        ],
    )
    .header(head)
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(t, area, &mut app.table);
}

/// A chart's data as the sparkline takes it: absent columns drawn as nothing.
fn bars(cols: &[Option<u64>]) -> Vec<ratatui::widgets::SparklineBar> {
    cols.iter().map(|v| (*v).into()).collect()
}

/// nload's view: the selected interface's rates over the last refreshes, rx above tx, the
/// newest at the right edge, with a time axis.
fn iface_graph(f: &mut ratatui::Frame, app: &App, key: Option<&str>, area: Rect) {
    let Some(g) = key.and_then(|k| app.graph.get(k)) else {
        return;
    };
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(1),
        ])
        .split(area);
    let w = area.width as usize;
    // one column per refresh, the newest last; the columns before the session are absent
    let shown: Vec<&(u64, u64)> = g.iter().rev().take(w).collect();
    let step = app.delay.as_millis() as i64;
    let now = app.clock.now().as_millisecond();
    for (i, (name, pick)) in [
        ("rx", (|p: &(u64, u64)| p.0) as fn(&(u64, u64)) -> u64),
        ("tx", |p: &(u64, u64)| p.1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut cols: Vec<Option<u64>> = vec![None; w - shown.len()];
        cols.extend(shown.iter().rev().map(|p| Some(pick(p))));
        let max = shown.iter().map(|p| pick(p)).max().unwrap_or(0);
        let cur = shown.first().map(|p| pick(p)).unwrap_or(0);
        f.render_widget(
            Sparkline::default()
                .block(Block::default().title(format!(
                    "{} {name}: now {}/s, peak {}/s (last {} refreshes)",
                    escape_text(key.unwrap_or("")),
                    size(cur),
                    size(max),
                    shown.len()
                )))
                .data(bars(&cols))
                .style(Style::default().fg(if i == 0 { Color::Cyan } else { Color::Yellow })),
            parts[i],
        );
    }
    f.render_widget(
        Paragraph::new(chart::axis(now - step * w as i64, now, w, &app.tz))
            .style(Style::default().fg(Color::DarkGray)),
        parts[2],
    );
}

/// The selected row's recorded history (the database), as a sparkline across the width
/// with a time axis under it.
fn history(f: &mut ratatui::Frame, app: &mut App, key: Option<&str>, area: Rect) {
    let block = Block::default().borders(Borders::TOP);
    let span = if app.day { "day" } else { "hour" };
    let Some(key) = key else {
        f.render_widget(
            Paragraph::new(format!("recorded history (last {span}): select a row")).block(block),
            area,
        );
        return;
    };
    let want = (app.view, app.by, key.to_string(), app.day);
    let stale = match &app.recorded {
        Some((k, at, _)) => *k != want || at.elapsed() > Duration::from_secs(30),
        None => true,
    };
    if stale {
        let span_ms = if app.day { 86_400_000 } else { 3_600_000 };
        // up to now, not the last refresh: a sample stored since then belongs in it
        let now_ms = app.clock.now().as_millisecond();
        let r = app.history.of(app.view, app.by, key, now_ms, span_ms);
        app.recorded = Some((want, Instant::now(), r));
    }
    let Some((_, _, r)) = &app.recorded else {
        return;
    };
    match r {
        Err(e) => f.render_widget(
            Paragraph::new(format!("history: {}", escape_text(e))).block(block),
            area,
        ),
        Ok(None) => f.render_widget(
            Paragraph::new(match app.history.unavailable() {
                Some(why) => format!("no recorded history: {}", escape_text(why)),
                None => format!(
                    "{}: not recorded one by one (see the ports and hosts views)",
                    app.view.name()
                ),
            })
            .block(block),
            area,
        ),
        Ok(Some(h)) => {
            let total: u64 = h.bytes.iter().sum();
            let max = h.bytes.iter().copied().max().unwrap_or(0);
            let block = block.title(format!(
                "recorded, last {span}: {} in all, busiest {} per {} min — {}",
                size(total),
                size(max),
                h.bucket_ms / 60_000,
                escape_text(key)
            ));
            let inner = block.inner(area);
            f.render_widget(block, area);
            let parts = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Min(1), Constraint::Length(1)])
                .split(inner);
            let w = inner.width as usize;
            let cols = chart::columns(&h.edges, &h.bytes, w);
            f.render_widget(
                Sparkline::default()
                    .data(bars(&cols))
                    .style(Style::default().fg(Color::Green)),
                parts[0],
            );
            let (start, end) = (
                h.edges.first().copied().unwrap_or(0),
                h.edges.last().copied().unwrap_or(0),
            );
            f.render_widget(
                Paragraph::new(chart::axis(start, end, w, &app.tz))
                    .style(Style::default().fg(Color::DarkGray)),
                parts[1],
            );
        }
    }
}
