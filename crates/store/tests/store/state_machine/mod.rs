//! The work queue, the mirror and the sink queue as one state machine: random appends,
//! claims by two holders, clock jumps past leases, settles by stale holders, deliveries,
//! replays, erasures and prunes, run against a model of what each should do, on both
//! engines. After every step: each event is in the one state the model says (counted per
//! state), what a claim takes is exactly the model's, the mirror holds the newest version
//! (a tombstone is never overwritten by older data), no sink sees an older version of a
//! record after a newer one, and nothing remains of an erased portal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rstest::rstest;
use spoke_store::testing::{install, TestDb};
use spoke_store::{
    Aside, ClaimRequest, DeadDeliveries, DeliveryClaim, DeliveryOutcome, Engine, Gone, GoneRecord,
    MirroredRecord, ObjectId, PortalId, Replay, Retry, SetAside, Settlement, Store, StoreError,
};

mod ops;

use ops::{check, new_event, object_of, op, Op, Outcome};

const T0: i64 = 1_764_000_000_000;
const LEASE: i64 = 60_000;
const PER_PORTAL: usize = 3;
const PORTALS: [PortalId; 2] = [PortalId(1), PortalId(2)];
const HOLDERS: [&str; 2] = ["a", "b"];
const SINK: &str = "http";
const OBJECT_TYPE: &str = "contacts";

/// An inbox event as the model sees it.
#[derive(Debug, Clone)]
struct Event {
    portal: PortalId,
    event_id: i64,
    /// The store's id, learnt when it is first claimed.
    id: Option<i64>,
    state: &'static str,
    holder: Option<&'static str>,
    claimed_until: i64,
    due: i64,
    /// Done events are pruned by when they were received.
    received_at: i64,
}

#[derive(Debug)]
struct Model {
    now: i64,
    /// In append order, which is id order.
    events: Vec<Event>,
    installed: BTreeSet<PortalId>,
    erased: BTreeSet<PortalId>,
    leases: BTreeMap<PortalId, (&'static str, i64)>,
    claimed: BTreeMap<&'static str, Vec<i64>>,
    /// (portal, object) → (state, version).
    mirror: BTreeMap<(PortalId, ObjectId), (&'static str, i64)>,
    /// The newest version the sink has delivered, per (portal, object).
    delivered: BTreeMap<(PortalId, ObjectId), i64>,
}

struct Machine {
    db: TestDb,
    store: Arc<dyn Store>,
    model: Model,
}

impl Machine {
    async fn new(engine: Engine) -> Self {
        let db = TestDb::new(engine).await;
        let store = db.store().await;
        for portal in PORTALS {
            store
                .record_install(&install(portal), "test", T0)
                .await
                .unwrap();
        }
        let model = Model {
            now: T0 + 1_000_000,
            events: Vec::new(),
            installed: PORTALS.into_iter().collect(),
            erased: BTreeSet::new(),
            leases: BTreeMap::new(),
            claimed: BTreeMap::new(),
            mirror: BTreeMap::new(),
            delivered: BTreeMap::new(),
        };
        Self { db, store, model }
    }

    async fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Append { portal, event } => self.append(PORTALS[portal], event).await?,
            Op::Claim { holder } => self.claim(HOLDERS[holder]).await?,
            Op::Advance { past_lease } => {
                self.model.now += if past_lease { LEASE + 1 } else { 1_000 }
            }
            Op::Settle {
                holder,
                pick,
                outcome,
                version,
            } => {
                self.settle(HOLDERS[holder], pick, outcome, T0 + version)
                    .await?
            }
            Op::Deliver { fail } => self.deliver(fail).await?,
            Op::ReplayEvents => self.replay_events().await?,
            Op::ReplayDeliveries => {
                self.store
                    .replay_deliveries(None, Replay::All)
                    .await
                    .unwrap();
            }
            Op::Erase { portal } => self.erase(PORTALS[portal]).await?,
            Op::Prune => self.prune().await?,
        }
        self.states_agree().await
    }

    async fn append(&mut self, portal: PortalId, event_id: i64) -> Result<(), TestCaseError> {
        let outcome = self
            .store
            .append(&[vec![new_event(portal, event_id)]], self.model.now)
            .await
            .unwrap();
        let known = self
            .model
            .events
            .iter()
            .any(|e| e.portal == portal && e.event_id == event_id);
        check(outcome[0].duplicates == u32::from(known), || {
            format!(
                "append of {portal}/{event_id}: {:?}, model knows it: {known}",
                outcome[0]
            )
        })?;
        if !known {
            self.model.events.push(Event {
                portal,
                event_id,
                id: None,
                state: "pending",
                holder: None,
                claimed_until: i64::MIN,
                due: i64::MIN,
                received_at: self.model.now,
            });
        }
        Ok(())
    }

    async fn claim(&mut self, holder: &'static str) -> Result<(), TestCaseError> {
        let now = self.model.now;
        let claimed = self
            .store
            .claim(&ClaimRequest {
                holder,
                until_ms: now + LEASE,
                now_ms: now,
                portals: 10,
                after_portal: None,
                per_portal: PER_PORTAL as u32,
                round_events: u32::MAX,
            })
            .await
            .unwrap();
        let model = &mut self.model;
        let with_work: BTreeSet<PortalId> = model
            .events
            .iter()
            .filter(|e| e.state == "pending")
            .map(|e| e.portal)
            .collect();
        let mut expected = Vec::new();
        for portal in with_work {
            let free = model
                .leases
                .get(&portal)
                .is_none_or(|(h, until)| *h == holder || *until <= now);
            if !free {
                continue;
            }
            model.leases.insert(portal, (holder, now + LEASE));
            let due = model.events.iter_mut().filter(|e| {
                e.portal == portal && e.state == "pending" && e.due <= now && e.claimed_until <= now
            });
            for event in due.take(PER_PORTAL) {
                event.holder = Some(holder);
                event.claimed_until = now + LEASE;
                expected.push((event.portal, event.event_id));
            }
        }
        let mut got: Vec<(PortalId, i64)> = claimed
            .iter()
            .map(|c| (c.key.portal_id, c.key.event_id))
            .collect();
        got.sort();
        expected.sort();
        check(got == expected, || {
            format!("{holder} claimed {got:?}, the model {expected:?}")
        })?;
        for c in &claimed {
            let event = model
                .events
                .iter_mut()
                .find(|e| e.portal == c.key.portal_id && e.event_id == c.key.event_id)
                .expect("checked above");
            event.id = Some(c.id);
            model.claimed.entry(holder).or_default().push(c.id);
        }
        Ok(())
    }

    async fn settle(
        &mut self,
        holder: &'static str,
        pick: usize,
        outcome: Outcome,
        version: i64,
    ) -> Result<(), TestCaseError> {
        let Some(ids) = self.model.claimed.get(holder).filter(|ids| !ids.is_empty()) else {
            return Ok(());
        };
        let id = ids[pick % ids.len()];
        let now = self.model.now;
        let model = &mut self.model;
        // An event pruned or erased since it was claimed settles nothing: a stale holder.
        let event = model.events.iter_mut().find(|e| e.id == Some(id));
        let (portal, object) = match &event {
            Some(e) => (e.portal, object_of(e.event_id)),
            None => (PortalId(1), ObjectId(100)),
        };
        let mut settlement = Settlement {
            sinks: vec![SINK.to_owned()],
            ..Settlement::default()
        };
        match outcome {
            Outcome::Fetched => {
                settlement.finished.push(id);
                settlement.records.push(MirroredRecord {
                    portal_id: portal,
                    object_type: OBJECT_TYPE.into(),
                    object_id: object,
                    state: "live".into(),
                    properties: format!(r#"{{"v":{version}}}"#),
                    updated_at: version,
                    fetched_at: now,
                    trace: None,
                });
            }
            Outcome::Deleted => {
                settlement.finished.push(id);
                settlement.gone.push(GoneRecord {
                    portal_id: portal,
                    object_type: OBJECT_TYPE.into(),
                    object_id: object,
                    gone: Gone::Deleted,
                    at_ms: version,
                    trace: None,
                });
            }
            Outcome::Retried => settlement.retries.push(Retry {
                ids: vec![id],
                due_ms: now + 1_000,
                error: Some("transient".into()),
            }),
            Outcome::Dead => settlement.set_aside.push(Aside {
                ids: vec![id],
                state: SetAside::Dead,
                reason: "attempts used up".into(),
                error: Some("failed".into()),
            }),
        }
        self.store.settle(holder, &settlement, now).await.unwrap();

        let Some(event) = event.filter(|e| e.holder == Some(holder)) else {
            return self.mirror_agrees(portal, object).await;
        };
        event.holder = None;
        event.claimed_until = i64::MIN;
        match outcome {
            Outcome::Fetched | Outcome::Deleted => event.state = "done",
            Outcome::Retried => event.due = now + 1_000,
            Outcome::Dead => event.state = "dead",
        }
        let state = match outcome {
            Outcome::Fetched => Some("live"),
            Outcome::Deleted => Some("deleted"),
            _ => None,
        };
        if let Some(state) = state.filter(|_| model.installed.contains(&portal)) {
            let newer = model
                .mirror
                .get(&(portal, object))
                .is_none_or(|(_, held)| *held <= version);
            if newer {
                model.mirror.insert((portal, object), (state, version));
            }
        }
        self.mirror_agrees(portal, object).await
    }

    async fn mirror_agrees(&self, portal: PortalId, object: ObjectId) -> Result<(), TestCaseError> {
        let stored = self
            .store
            .mirrored(portal, OBJECT_TYPE, object)
            .await
            .unwrap();
        let stored = stored.map(|r| (r.state, r.updated_at, r.properties));
        let expected = self.model.mirror.get(&(portal, object));
        let agree = match (&stored, expected) {
            (None, None) => true,
            (Some((state, version, properties)), Some((model_state, model_version))) => {
                state == model_state
                    && version == model_version
                    && (state == "live") != (properties == "{}")
            }
            _ => false,
        };
        check(agree, || {
            format!("mirror of {portal}/{object}: {stored:?}, the model {expected:?}")
        })
    }

    async fn deliver(&mut self, fail: bool) -> Result<(), TestCaseError> {
        let now = self.model.now;
        let claim = DeliveryClaim {
            sink: SINK,
            holder: "sink",
            until_ms: now + LEASE,
            now_ms: now,
            limit: 100,
        };
        let deliveries = self.store.claim_deliveries(&claim).await.unwrap();
        for d in &deliveries {
            check(!self.model.erased.contains(&d.portal_id), || {
                format!("a delivery of erased portal {}: {d:?}", d.portal_id)
            })?;
            let key = (d.portal_id, d.object_id);
            let last = self.model.delivered.get(&key).copied();
            check(last.is_none_or(|last| last <= d.version), || {
                format!("version {} of {key:?} after version {last:?}", d.version)
            })?;
            if !fail {
                self.model.delivered.insert(key, d.version);
            }
        }
        let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
        let outcome = if fail {
            DeliveryOutcome {
                dead: vec![DeadDeliveries {
                    ids,
                    error: "refused".into(),
                }],
                ..DeliveryOutcome::default()
            }
        } else {
            DeliveryOutcome {
                delivered: ids,
                ..DeliveryOutcome::default()
            }
        };
        self.store
            .settle_deliveries("sink", &outcome, now)
            .await
            .unwrap();
        Ok(())
    }

    async fn replay_events(&mut self) -> Result<(), TestCaseError> {
        let replayed = self.store.replay_events(Replay::All).await.unwrap();
        let mut dead = 0;
        for event in self.model.events.iter_mut().filter(|e| e.state == "dead") {
            event.state = "pending";
            event.due = i64::MIN;
            dead += 1;
        }
        check(replayed == dead, || {
            format!("replayed {replayed}, the model {dead}")
        })
    }

    async fn erase(&mut self, portal: PortalId) -> Result<(), TestCaseError> {
        let model = &mut self.model;
        let held =
            model.installed.contains(&portal) || model.events.iter().any(|e| e.portal == portal);
        let erased = self.store.erase(portal, "test", model.now).await;
        match erased {
            Ok(()) => check(held, || {
                format!("{portal} erased, the model holds nothing of it")
            })?,
            Err(StoreError::NotFound) => check(!held, || {
                format!("{portal} not found, the model holds some of it")
            })?,
            Err(error) => return Err(TestCaseError::fail(format!("erase {portal}: {error}"))),
        }
        model.events.retain(|e| e.portal != portal);
        model.mirror.retain(|(p, _), _| *p != portal);
        model.leases.remove(&portal);
        model.installed.remove(&portal);
        model.erased.insert(portal);
        self.nothing_remains_of(portal, &["hydration_leases"]).await
    }

    /// Of an erased portal nothing remains in its tables (and in `also`), and in the inbox
    /// only events that came after the erase (the model's).
    async fn nothing_remains_of(
        &self,
        portal: PortalId,
        also: &[&str],
    ) -> Result<(), TestCaseError> {
        let tables = ["records", "sink_deliveries", "portals", "portal_tokens"];
        for table in tables.iter().chain(also) {
            let rows = self
                .db
                .number(&format!(
                    "SELECT count(*) FROM {table} WHERE portal_id = {portal}"
                ))
                .await;
            check(rows == 0, || {
                format!("{rows} rows of erased {portal} in {table}")
            })?;
        }
        let events = self
            .db
            .number(&format!(
                "SELECT count(*) FROM inbox_events WHERE portal_id = {portal}"
            ))
            .await;
        let modelled = self
            .model
            .events
            .iter()
            .filter(|e| e.portal == portal)
            .count() as i64;
        check(events == modelled, || {
            format!("{events} events of erased {portal}, the model {modelled}")
        })
    }

    async fn prune(&mut self) -> Result<(), TestCaseError> {
        let before = self.model.now + 1;
        let pruned = self.store.prune_finished(before, 1_000).await.unwrap();
        let count = self.model.events.len();
        self.model
            .events
            .retain(|e| !(e.state == "done" && e.received_at < before));
        let gone = (count - self.model.events.len()) as u64;
        check(pruned == gone, || {
            format!("pruned {pruned}, the model {gone}")
        })
    }

    async fn states_agree(&self) -> Result<(), TestCaseError> {
        let stored: BTreeMap<String, i64> = self
            .store
            .queue_counts()
            .await
            .unwrap()
            .into_iter()
            .collect();
        let mut modelled: BTreeMap<String, i64> = BTreeMap::new();
        for event in &self.model.events {
            *modelled.entry(event.state.to_owned()).or_default() += 1;
        }
        check(stored == modelled, || {
            format!("events per state {stored:?}, the model {modelled:?}")
        })?;
        for portal in &self.model.erased {
            self.nothing_remains_of(*portal, &[]).await?;
        }
        Ok(())
    }
}

/// Runs `PROPTEST_CASES` (default 24) random programs drawn from seed `PROPTEST_SEED`
/// (default 0, so a run is repeatable and a failure names the program that failed).
fn run_machine(engine: Engine) {
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let (cases, seed) = (setting("PROPTEST_CASES", 24), setting("PROPTEST_SEED", 0));
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = Config {
        cases: u32::try_from(cases).unwrap_or(u32::MAX),
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let ops = proptest::collection::vec(op(), 1..40);
    let result = runner.run(&ops, |ops| {
        runtime.block_on(async {
            let mut machine = Machine::new(engine).await;
            for op in &ops {
                machine.step(op).await?;
            }
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
fn the_queues_and_the_mirror_keep_their_invariants_under_random_operations(#[case] engine: Engine) {
    run_machine(engine);
}
