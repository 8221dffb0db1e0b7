//! The `container` table (schema 9): who a container is, looked up once per id from its
//! runtime's metadata (`recorder::containers`) and kept — so a report names a container that
//! was removed a week ago, and a sample never reads runtime metadata for a container it
//! already knows.

use crate::recorder::containers::{self, Container};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// A container whose metadata could not be read is looked for again after this long.
const RETRY_MS: i64 = 10 * 60 * 1000;

/// The short id `process.container` holds for a full id.
pub fn short(id: &str) -> String {
    if id.len() == 64 {
        id[..12].to_string()
    } else {
        id.to_string()
    }
}

/// What the store knows of the containers seen in one sample (a cache over the table).
#[derive(Default)]
pub struct Known {
    names: HashMap<String, Container>,
}

impl Known {
    /// The container with this id, from the table or — first sight, or a failed lookup ten
    /// minutes old — its runtime's metadata, stored. `now_ms`: the sample's time.
    pub fn get(&mut self, conn: &Connection, id: &str, now_ms: i64) -> rusqlite::Result<Container> {
        if let Some(c) = self.names.get(id) {
            return Ok(c.clone());
        }
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
        let c = match row {
            Some((c, at)) if c.name.is_some() || now_ms.saturating_sub(at) < RETRY_MS => c,
            _ => {
                let c = containers::resolve(id);
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
                    id,
                    short(id),
                    c.runtime,
                    c.name,
                    c.image,
                    c.pod,
                    c.pod_namespace,
                    c.k8s_container,
                    now_ms
                ])?;
                c
            }
        };
        self.names.insert(id.to_string(), c.clone());
        Ok(c)
    }

    /// The container of a cgroup path, when it names one.
    pub fn of_cgroup(
        &mut self,
        conn: &Connection,
        cgroup: &[u8],
        now_ms: i64,
    ) -> rusqlite::Result<Option<Container>> {
        match containers::id_of(cgroup) {
            Some(id) => self.get(conn, &id, now_ms).map(Some),
            None => Ok(None),
        }
    }
}
