//! Who sees what of a need: the one place of the role × field matrix that
//! `docs/needs-privacy.md` documents. The api layer works out how the caller
//! stands to a need ([`Relation`]), asks [`visibility`] and applies the
//! answer to the contract; nothing else decides what of a need is shown.
//!
//! A need carries a resident's own words, address, position, photos and
//! account. Those who handle it see it whole; others of the community, and
//! the public (Open311), see a de-identified summary: its category, state,
//! the public notes of its handling, and a street-level place.

use chrono::{DateTime, Duration, Utc};

/// How a caller stands to one need. A caller may stand in several ways (a
/// community worker who also submitted it): they see the union.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Submitted it: the resident, the worker or admin who entered it for a
    /// resident, or the Open311 channel (by its key) that reported it.
    Submitter,
    /// A community worker, or a street, district or city admin, whose region
    /// covers the need's community: those who handle it.
    Handler,
    /// A platform service calling with its own service token.
    Service,
    /// The assigned professional or a member of the assigned team;
    /// `contact_consent` is the submitter's consent to be contacted.
    Assignee { contact_consent: bool },
    /// An auditor whose region covers the need's community.
    Auditor,
    /// A resident of the need's region who did not submit it: another
    /// resident of the community, or an Open311 channel key of the region
    /// for a need it did not report.
    Neighbour,
    /// Anyone: Open311's unauthenticated reads, and `public_view` requests.
    Public,
    /// The other province's platform that asked for it (federation support
    /// needs, through the federation port).
    OriginPeer,
}

/// How precisely a need's position is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Position {
    #[default]
    Hidden,
    /// Rounded to [`STREET_LEVEL_DECIMALS`] decimal places ([`street_level`]).
    StreetLevel,
    Exact,
}

/// What of a need a caller sees. The id, category, state, and request and
/// update times are shown to whoever sees the need at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Visibility {
    /// The community code and `agency_responsible` (the street office): the
    /// need's street-level place by name.
    pub place: bool,
    /// `expected_time` (the category's deadline).
    pub deadline: bool,
    /// `overdue`.
    pub overdue: bool,
    /// The resident's own words (`description`).
    pub description: bool,
    /// The exact address the resident gave.
    pub address: bool,
    pub position: Position,
    /// Photos (`media_urls`).
    pub media: bool,
    /// Who submitted it, and whether they agree to be contacted
    /// (`submitter_account_id`, `contact_consent`).
    pub submitter: bool,
    /// The assigned professional's account and the assigned team.
    pub assignee: bool,
    pub duplicate_of: bool,
    /// The latest status note and the notes of the history: public by
    /// design (handlers write them for residents and Open311's `status_notes`).
    pub status_notes: bool,
    /// The history: each change's states, action and time.
    pub history: bool,
    /// Who made each change (account ids). The submitter's own changes
    /// (submission, reopening) name them only where `submitter` is shown.
    pub history_actors: bool,
    /// The submitter's 1–5 rating.
    pub satisfaction: bool,
    /// The submitter's evaluation comment (their own words).
    pub evaluation_comment: bool,
    /// Federation needs: the peer, its community and request, the title and
    /// the profession and specialty wanted.
    pub origin: bool,
}

impl Visibility {
    /// Everything.
    pub const FULL: Visibility = Visibility {
        place: true,
        deadline: true,
        overdue: true,
        description: true,
        address: true,
        position: Position::Exact,
        media: true,
        submitter: true,
        assignee: true,
        duplicate_of: true,
        status_notes: true,
        history: true,
        history_actors: true,
        satisfaction: true,
        evaluation_comment: true,
        origin: true,
    };

    /// The de-identified summary: category and state (always), the public
    /// notes and the history without names, the deadline, a street-level
    /// place. No words of the resident, no address, exact position, photos,
    /// submitter, contact, assignee or evaluation.
    pub const SUMMARY: Visibility = Visibility {
        place: true,
        deadline: true,
        overdue: true,
        description: false,
        address: false,
        position: Position::StreetLevel,
        media: false,
        submitter: false,
        assignee: false,
        duplicate_of: true,
        status_notes: true,
        history: true,
        history_actors: false,
        satisfaction: false,
        evaluation_comment: false,
        origin: false,
    };

    /// What either of two views shows.
    pub fn union(self, o: Visibility) -> Visibility {
        Visibility {
            place: self.place || o.place,
            deadline: self.deadline || o.deadline,
            overdue: self.overdue || o.overdue,
            description: self.description || o.description,
            address: self.address || o.address,
            position: self.position.max(o.position),
            media: self.media || o.media,
            submitter: self.submitter || o.submitter,
            assignee: self.assignee || o.assignee,
            duplicate_of: self.duplicate_of || o.duplicate_of,
            status_notes: self.status_notes || o.status_notes,
            history: self.history || o.history,
            history_actors: self.history_actors || o.history_actors,
            satisfaction: self.satisfaction || o.satisfaction,
            evaluation_comment: self.evaluation_comment || o.evaluation_comment,
            origin: self.origin || o.origin,
        }
    }
}

/// What one relation shows: the matrix, row by row.
pub fn of(relation: Relation) -> Visibility {
    match relation {
        // The resident's own need; those who handle it; the platform itself.
        Relation::Submitter | Relation::Handler | Relation::Service => Visibility::FULL,
        // What the work needs, down to the door; the submitter only if they
        // agreed to be contacted.
        Relation::Assignee { contact_consent } => Visibility {
            submitter: contact_consent,
            ..Visibility::FULL
        },
        // Oversight of the handling (who did what, when, with which result),
        // not of the resident.
        Relation::Auditor => Visibility {
            description: false,
            address: false,
            position: Position::StreetLevel,
            media: false,
            submitter: false,
            evaluation_comment: false,
            ..Visibility::FULL
        },
        Relation::Neighbour | Relation::Public => Visibility::SUMMARY,
        // The peer's own request as it asked it, with our answer: no account
        // of ours, no history, nothing of our residents.
        Relation::OriginPeer => Visibility {
            place: true,
            deadline: true,
            description: true,
            status_notes: true,
            origin: true,
            ..Visibility::default()
        },
    }
}

/// What a caller standing to a need in `relations` sees of it: `None` when
/// they do not see it at all (no relation: reviewers, professionals not
/// assigned to it, residents of other communities).
pub fn visibility(relations: &[Relation]) -> Option<Visibility> {
    relations.iter().map(|r| of(*r)).reduce(Visibility::union)
}

/// Decimal places of a street-level position: 0.01° is about 1.1 km
/// north–south and 1 km east–west at Chongqing's latitude, about the size
/// of a street (街道) and coarser than a community or a building.
pub const STREET_LEVEL_DECIMALS: i32 = 2;

/// A position (longitude, latitude) rounded to street level.
pub fn street_level(lon: f64, lat: f64) -> (f64, f64) {
    let scale = 10f64.powi(STREET_LEVEL_DECIMALS);
    let round = |v: f64| (v * scale).round() / scale;
    (round(lon), round(lat))
}

/// Public reads cover needs requested in the last this many days (Open311's
/// default window) ...
pub const PUBLIC_WINDOW_DAYS: i64 = 90;
/// ... at most this many per page ...
pub const PUBLIC_PAGE_MAX: u64 = 100;
/// ... and at most this many in all, however they are paged (Open311's limit).
pub const PUBLIC_MAX_RESULTS: u64 = 1000;

/// The oldest request time a public read shows at `now`.
pub fn public_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(PUBLIC_WINDOW_DAYS)
}

/// How many rows a public page at `offset` holds when `requested` are asked
/// for: within the page and overall bounds (0 past the last one).
pub fn public_page(offset: u64, requested: u64) -> u64 {
    requested
        .min(PUBLIC_PAGE_MAX)
        .min(PUBLIC_MAX_RESULTS.saturating_sub(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: [Relation; 9] = [
        Relation::Submitter,
        Relation::Handler,
        Relation::Service,
        Relation::Assignee { contact_consent: true },
        Relation::Assignee { contact_consent: false },
        Relation::Auditor,
        Relation::Neighbour,
        Relation::Public,
        Relation::OriginPeer,
    ];

    /// Whether a view shows anything that names or locates the resident.
    fn identifying(v: &Visibility) -> bool {
        v.description || v.address || v.position == Position::Exact || v.media || v.submitter || v.evaluation_comment
    }

    #[test]
    fn no_relation_sees_nothing() {
        // Reviewers, professionals not assigned, residents of other communities.
        assert_eq!(visibility(&[]), None);
    }

    #[test]
    fn own_needs_and_their_handlers_see_everything() {
        for r in [Relation::Submitter, Relation::Handler, Relation::Service] {
            assert_eq!(visibility(&[r]), Some(Visibility::FULL), "{r:?}");
        }
    }

    #[test]
    fn neighbours_and_the_public_see_a_de_identified_summary() {
        for r in [Relation::Neighbour, Relation::Public] {
            let v = visibility(&[r]).unwrap();
            assert!(!identifying(&v), "{r:?}: {v:?}");
            assert!(!v.assignee && !v.satisfaction && !v.origin && !v.history_actors);
            assert!(v.place && v.status_notes && v.history);
            assert_eq!(v.position, Position::StreetLevel);
        }
    }

    #[test]
    fn assignees_see_the_work_and_the_submitter_only_with_consent() {
        let with = of(Relation::Assignee { contact_consent: true });
        let without = of(Relation::Assignee { contact_consent: false });
        assert!(with.description && with.address && with.media && with.position == Position::Exact);
        assert!(with.submitter && !without.submitter);
        assert_eq!(
            Visibility {
                submitter: true,
                ..without
            },
            with
        );
    }

    #[test]
    fn auditors_see_the_handling_not_the_resident() {
        let v = of(Relation::Auditor);
        assert!(!identifying(&v), "{v:?}");
        assert!(v.assignee && v.history_actors && v.satisfaction && v.status_notes);
    }

    #[test]
    fn the_origin_peer_sees_what_federation_always_answered() {
        let v = of(Relation::OriginPeer);
        assert_eq!(
            v,
            Visibility {
                place: true,
                deadline: true,
                description: true,
                status_notes: true,
                origin: true,
                ..Visibility::default()
            }
        );
        assert!(!v.assignee && !v.history && !v.submitter && !v.overdue);
    }

    #[test]
    fn several_relations_see_the_union() {
        assert_eq!(
            visibility(&[Relation::Neighbour, Relation::Submitter]),
            Some(Visibility::FULL)
        );
        let v = visibility(&[Relation::Auditor, Relation::Neighbour]).unwrap();
        assert_eq!(v, of(Relation::Auditor));
        for a in EVERY {
            for b in EVERY {
                let u = of(a).union(of(b));
                assert_eq!(u, of(b).union(of(a)));
                assert_eq!(u.union(of(a)), u);
                assert!(u.position >= of(a).position && u.position >= of(b).position);
            }
        }
    }

    #[test]
    fn only_those_who_handle_or_submitted_see_identifying_fields() {
        for r in EVERY {
            let may = matches!(
                r,
                Relation::Submitter | Relation::Handler | Relation::Service | Relation::Assignee { .. }
            ) || r == Relation::OriginPeer;
            assert_eq!(identifying(&of(r)), may, "{r:?}");
        }
        // The peer's "identifying" field is its own request's text, not a resident's.
        assert!(!of(Relation::OriginPeer).submitter && of(Relation::OriginPeer).position == Position::Hidden);
    }

    #[test]
    fn street_level_rounds_to_about_a_kilometre() {
        let (lon, lat) = street_level(106.5815, 29.5527);
        assert!((lon - 106.58).abs() < 1e-9 && (lat - 29.55).abs() < 1e-9, "{lon} {lat}");
        let (lon, lat) = street_level(106.578, 29.558);
        assert!((lon - 106.58).abs() < 1e-9 && (lat - 29.56).abs() < 1e-9, "{lon} {lat}");
    }

    #[test]
    fn public_reads_are_bounded() {
        assert_eq!(public_page(0, 50), 50);
        assert_eq!(public_page(0, 500), PUBLIC_PAGE_MAX);
        assert_eq!(public_page(950, 100), 50);
        assert_eq!(public_page(1000, 100), 0);
        assert_eq!(public_page(5000, 100), 0);
        let now = Utc::now();
        assert_eq!(now - public_since(now), Duration::days(90));
    }
}
