//! Which brokers serve a journal: the seam the cluster plugs into (DESIGN §11).
//!
//! Gazette's broker resolves every request's journal to its current [`Route`] — the
//! members assigned to it, in slot order, and which of them is primary
//! (`broker/resolver.go`, `protocol/route_extensions.go`) — then serves the request,
//! proxies it, or answers with the route. The broker here asks a [`JournalRoutes`] for
//! the route and a pure check ([`check_read`], [`check_append`]) whether it may serve.
//! The embedded default is [`LocalRoutes`]: this process is the only member and the
//! primary of every journal, so every request is served here, as before. A cluster's
//! routes come from the allocator's assignments in etcd behind the same trait.

/// A broker process: Gazette's `ProcessSpec.ID` (zone and suffix).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId {
    /// The failure zone.
    pub zone: String,
    /// Unique within the zone.
    pub suffix: String,
}

impl ProcessId {
    /// The id `zone`/`suffix`.
    pub fn new(zone: impl Into<String>, suffix: impl Into<String>) -> Self {
        ProcessId { zone: zone.into(), suffix: suffix.into() }
    }
}

/// Who serves a journal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// The members assigned to the journal.
    pub members: Vec<ProcessId>,
    /// Index in `members` of the primary, if one is assigned.
    pub primary: Option<usize>,
    /// Each member's endpoint (`http://host:port`), parallel to `members`.
    pub endpoints: Vec<String>,
}

impl Route {
    /// A route of one member, primary, at `endpoint`.
    pub fn single(id: ProcessId, endpoint: impl Into<String>) -> Self {
        Route { members: vec![id], primary: Some(0), endpoints: vec![endpoint.into()] }
    }

    /// Whether `id` is a member (primary or replica).
    pub fn includes(&self, id: &ProcessId) -> bool {
        self.members.contains(id)
    }

    /// The primary, if any.
    /// Whether `other` has the same members and primary (Gazette's
    /// `Route.Equivalent`: endpoints may differ).
    pub fn equivalent(&self, other: &Route) -> bool {
        self.members == other.members && self.primary == other.primary
    }

    pub fn primary_member(&self) -> Option<&ProcessId> {
        self.primary.and_then(|p| self.members.get(p))
    }
}

/// Where routes come from.
pub trait JournalRoutes: Send + Sync + 'static {
    /// This broker process.
    fn local(&self) -> &ProcessId;

    /// The current route of `journal` (a journal this process knows nothing of is
    /// routed to no member).
    fn route(&self, journal: &str) -> Route;
}

/// The embedded default: every journal is served by this process, its primary.
#[derive(Clone, Debug)]
pub struct LocalRoutes {
    /// This process's route, the same for every journal.
    route: Route,
}

impl LocalRoutes {
    /// Routes every journal to `id` at `endpoint`.
    pub fn new(id: ProcessId, endpoint: impl Into<String>) -> Self {
        LocalRoutes { route: Route::single(id, endpoint) }
    }
}

impl JournalRoutes for LocalRoutes {
    fn local(&self) -> &ProcessId {
        &self.route.members[0]
    }

    fn route(&self, _journal: &str) -> Route {
        self.route.clone()
    }
}

/// Why this broker does not serve a request itself (Gazette's statuses of the same
/// names); the caller is given the route to go to instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misrouted {
    /// A read at a broker that is not a member of the journal's route.
    NotJournalBroker,
    /// An append at a member that is not the primary.
    NotJournalPrimaryBroker,
    /// An append to a journal whose route has no primary.
    NoJournalPrimaryBroker,
}

/// Whether `me` may serve a read of a journal routed by `route`: any member may.
///
/// # Errors
/// [`Misrouted::NotJournalBroker`] if `me` is not a member.
pub fn check_read(route: &Route, me: &ProcessId) -> Result<(), Misrouted> {
    if route.includes(me) {
        Ok(())
    } else {
        Err(Misrouted::NotJournalBroker)
    }
}

/// Whether `me` may serve an append to a journal routed by `route`: only its primary.
///
/// # Errors
/// [`Misrouted::NoJournalPrimaryBroker`] without a primary,
/// [`Misrouted::NotJournalPrimaryBroker`] if the primary is another process.
pub fn check_append(route: &Route, me: &ProcessId) -> Result<(), Misrouted> {
    match route.primary_member() {
        None => Err(Misrouted::NoJournalPrimaryBroker),
        Some(p) if p == me => Ok(()),
        Some(_) => Err(Misrouted::NotJournalPrimaryBroker),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ProcessId {
        ProcessId::new("zone-a", s)
    }

    #[test]
    fn local_routes_serve_every_journal_here_as_primary() {
        let routes = LocalRoutes::new(id("me"), "http://127.0.0.1:8080");
        for journal in ["a/b", "examples/stream-sum/sums", ""] {
            let route = routes.route(journal);
            assert_eq!(route.members, vec![id("me")]);
            assert_eq!(route.endpoints, vec!["http://127.0.0.1:8080".to_string()]);
            assert_eq!(check_read(&route, routes.local()), Ok(()));
            assert_eq!(check_append(&route, routes.local()), Ok(()));
        }
    }

    #[test]
    fn reads_go_to_any_member_and_appends_only_to_the_primary() {
        let route = Route { members: vec![id("p"), id("r")], primary: Some(0), endpoints: vec!["p".into(), "r".into()] };
        let cases = [
            ("p", Ok(()), Ok(())),
            ("r", Ok(()), Err(Misrouted::NotJournalPrimaryBroker)),
            ("x", Err(Misrouted::NotJournalBroker), Err(Misrouted::NotJournalPrimaryBroker)),
        ];
        for (me, read, append) in cases {
            assert_eq!(check_read(&route, &id(me)), read, "read at {me}");
            assert_eq!(check_append(&route, &id(me)), append, "append at {me}");
        }
        let headless = Route { primary: None, ..route.clone() };
        assert_eq!(check_append(&headless, &id("p")), Err(Misrouted::NoJournalPrimaryBroker));
        assert_eq!(check_read(&headless, &id("r")), Ok(()), "replicas still serve reads");
        assert_eq!(check_read(&Route::default(), &id("p")), Err(Misrouted::NotJournalBroker));
    }
}
