//! The `container` table (schema 9): who a container is, as its runtime's metadata said when
//! the sampler first met it — kept, so a report names a container that was removed a week
//! ago, and a sample never reads runtime metadata for a container the store already knows.

use nrec_model::identity::{Container, short};
use rusqlite::{Connection, OptionalExtension, params};

/// A container whose metadata could not be read is looked for again after this long.
const RETRY_MS: i64 = 10 * 60 * 1000;

/// The container with this id as stored, when it is known: named, or looked for less than
/// ten minutes before `now_ms`. None: the sampler looks it up (first sight, or a failed
/// lookup grown stale).
pub(crate) fn known(
    conn: &Connection,
    id: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<Container>> {
    let row: Option<(Container, i64)> = conn
        .prepare_cached(
            "SELECT runtime, name, image, pod, pod_namespace, k8s_container, resolved_ms
             FROM container WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                Container {
                    id: id.to_string(),
                    runtime: r.get(0)?,
                    name: r.get(1)?,
                    image: r.get(2)?,
                    pod: r.get(3)?,
                    pod_namespace: r.get(4)?,
                    k8s_container: r.get(5)?,
                },
                r.get(6)?,
            ))
        })
        .optional()?;
    Ok(row
        .filter(|(c, at)| c.name.is_some() || now_ms.saturating_sub(*at) < RETRY_MS)
        .map(|(c, _)| c))
}

/// Keeps what a lookup at `at_ms` found (a field it did not find keeps its stored value).
pub(crate) fn save(conn: &Connection, c: &Container, at_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO container (id, short, runtime, name, image, pod, pod_namespace, k8s_container, resolved_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET
           runtime = coalesce(excluded.runtime, runtime), name = coalesce(excluded.name, name),
           image = coalesce(excluded.image, image), pod = coalesce(excluded.pod, pod),
           pod_namespace = coalesce(excluded.pod_namespace, pod_namespace),
           k8s_container = coalesce(excluded.k8s_container, k8s_container),
           resolved_ms = excluded.resolved_ms",
    )?
    .execute(params![
        c.id,
        short(&c.id),
        c.runtime,
        c.name,
        c.image,
        c.pod,
        c.pod_namespace,
        c.k8s_container,
        at_ms
    ])?;
    Ok(())
}
