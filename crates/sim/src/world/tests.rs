//! Unit tests of [`super`].

use super::*;

fn world() -> World {
    World::new(Shape {
        seed: 1,
        app_id: 42,
        first_portal: 100,
        portals: 3,
        records_per_type: 10,
        limits: Limits::default(),
    })
}

fn changed(events: &[WebhookEvent]) -> Vec<(i64, String, i64)> {
    events
        .iter()
        .map(|e| (e.portal_id, e.subscription_type.clone(), e.object_id))
        .collect()
}

#[test]
fn the_same_seed_makes_the_same_changes_and_objects_narrow_them() {
    use rand::SeedableRng;
    let installed = |w: &mut World| {
        for portal in [100, 101, 102] {
            w.update_portal(portal, |p| p.installed = true).unwrap();
        }
    };
    let (mut a, mut b) = (world(), world());
    installed(&mut a);
    installed(&mut b);
    let seeded = |seed| rand::rngs::StdRng::seed_from_u64(seed);
    let first = a.random_changes(&mut seeded(7), 30, &[], &[], 1_000);
    let again = b.random_changes(&mut seeded(7), 30, &[], &[], 1_000);
    assert_eq!(changed(&first), changed(&again));
    assert!(changed(&first)
        .iter()
        .any(|(_, t, _)| !t.starts_with("contact.")));

    let contacts = a.random_changes(&mut seeded(8), 30, &[101], &[ObjectType::CONTACTS], 2_000);
    assert!(!contacts.is_empty());
    assert!(changed(&contacts)
        .iter()
        .all(|(p, t, _)| *p == 101 && t.starts_with("contact.")));
}

fn contact(index: i64) -> i64 {
    ObjectType::CONTACTS.id_base() + index
}

#[test]
fn portals_exist_in_their_range_only() {
    let w = world();
    assert!(w.portal(100).is_some() && w.portal(102).is_some());
    assert!(w.portal(99).is_none() && w.portal(103).is_none());
    assert_eq!(w.portal_ids().count(), 3);
}

#[test]
fn an_update_bumps_the_modification_time_and_yields_one_event_per_subscribed_change() {
    let mut w = world();
    let before = w.record(100, ObjectType::CONTACTS, contact(1)).unwrap();
    let changes = BTreeMap::from([
        ("firstname".to_owned(), "Zoë".to_owned()),
        ("lastname".to_owned(), before.properties["lastname"].clone()),
        ("notsubscribed".to_owned(), "x".to_owned()),
    ]);
    let now = before.updated_at + 1_000;
    let (after, events) = w
        .update(100, ObjectType::CONTACTS, contact(1), changes, now)
        .unwrap();
    assert_eq!(after.updated_at, now);
    assert_eq!(
        after.properties["lastmodifieddate"],
        crate::objects::iso(now)
    );
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].subscription_type, "contact.propertyChange");
    assert_eq!(events[0].property_value.as_deref(), Some("Zoë"));
    assert_eq!(
        (
            events[0].portal_id,
            events[0].object_id,
            events[0].occurred_at
        ),
        (100, contact(1), now)
    );
}

#[test]
fn archive_restore_merge_and_privacy_deletion_follow_hubspot() {
    let mut w = world();
    let kinds = |events: Vec<WebhookEvent>| {
        events
            .into_iter()
            .map(|e| e.subscription_type)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(w.archive(100, ObjectType::CONTACTS, contact(2), 5).unwrap()),
        ["contact.deletion"]
    );
    assert!(w
        .list(100, ObjectType::CONTACTS, 0, 100, false)
        .iter()
        .all(|r| r.id != contact(2)));
    assert_eq!(w.list(100, ObjectType::CONTACTS, 0, 100, true).len(), 1);
    assert_eq!(
        kinds(w.restore(100, ObjectType::CONTACTS, contact(2), 6).unwrap()),
        ["contact.restore"]
    );
    assert_eq!(
        w.restore(100, ObjectType::CONTACTS, contact(2), 7),
        Err(ChangeError::NotArchived)
    );

    let (_, merge) = w
        .merge(100, ObjectType::CONTACTS, contact(3), contact(4), 8)
        .unwrap();
    assert_eq!(merge[0].merged_object_ids, vec![contact(4)]);
    assert_eq!(merge[0].primary_object_id, Some(contact(3)));
    assert!(w.record(100, ObjectType::CONTACTS, contact(4)).is_none());

    let privacy = kinds(w.privacy_delete(100, contact(5), 9).unwrap());
    assert_eq!(privacy, ["contact.privacyDeletion", "contact.deletion"]);
    assert!(w.record(100, ObjectType::CONTACTS, contact(5)).is_none());
}

#[test]
fn created_records_are_listed_after_generated_ones() {
    let mut w = world();
    let (record, events) = w
        .create(
            101,
            ObjectType::DEALS,
            BTreeMap::from([("dealname".into(), "New".into())]),
            77,
        )
        .unwrap();
    assert_eq!(events[0].change_flag, Some("CREATED"));
    let all = w.list(101, ObjectType::DEALS, 0, 100, false);
    assert_eq!(all.len(), 11);
    assert_eq!(all.last().unwrap().id, record.id);
    assert_eq!(w.list(101, ObjectType::DEALS, all[4].id, 3, false).len(), 3);
}

#[test]
fn inactive_subscriptions_yield_no_events() {
    let mut w = world();
    let subscriptions = w
        .subscriptions()
        .iter()
        .cloned()
        .map(|mut s| {
            s.active = false;
            s
        })
        .collect();
    w.set_subscriptions(subscriptions);
    assert!(w
        .archive(100, ObjectType::CONTACTS, contact(1), 1)
        .unwrap()
        .is_empty());
}

#[test]
fn generic_subscriptions_send_generic_events_naming_the_type() {
    let mut w = world();
    w.update_portal(100, |p| p.installed = true).unwrap();
    let generic: Vec<Subscription> = w
        .subscriptions()
        .iter()
        .map(Subscription::generic)
        .collect();
    assert!(generic
        .iter()
        .all(|s| s.event_type.starts_with("object.") && s.object_type_id.is_some()));
    w.set_subscriptions(generic);
    let deal = ObjectType::DEALS.id_base() + 1;
    let (_, events) = w
        .update(
            100,
            ObjectType::DEALS,
            deal,
            BTreeMap::from([("dealname".to_owned(), "Big".to_owned())]),
            5_000,
        )
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subscription_type, "object.propertyChange");
    assert_eq!(events[0].object_type_id.as_deref(), Some("0-3"));
    assert_eq!(events[0].object_id, deal);
}

#[test]
fn an_association_is_made_and_removed_both_ways_and_notifies_both_sides() {
    let mut w = world();
    let contact = (ObjectType::CONTACTS, ObjectType::CONTACTS.id_base() + 1);
    let company = (ObjectType::COMPANIES, ObjectType::COMPANIES.id_base() + 2);
    let made = w.associate(100, contact, company, 5_000).unwrap();
    let sides: Vec<_> = made
        .iter()
        .map(|e| {
            (
                e.subscription_type.as_str(),
                e.from_object_id,
                e.to_object_id,
                e.association_type.as_deref(),
                e.association_removed,
            )
        })
        .collect();
    assert_eq!(
        sides,
        [
            (
                "contact.associationChange",
                Some(contact.1),
                Some(company.1),
                Some("CONTACT_TO_COMPANY"),
                Some(false)
            ),
            (
                "company.associationChange",
                Some(company.1),
                Some(contact.1),
                Some("COMPANY_TO_CONTACT"),
                Some(false)
            ),
        ]
    );
    assert_eq!(w.associated(100, contact.0, contact.1, company.0).len(), 1);
    assert_eq!(w.associated(100, company.0, company.1, contact.0).len(), 1);
    assert_eq!(
        w.associated(101, contact.0, contact.1, company.0).len(),
        0,
        "per portal"
    );

    let removed = w.dissociate(100, company, contact, 6_000).unwrap();
    assert!(removed.iter().all(|e| e.association_removed == Some(true)));
    assert!(w
        .associated(100, contact.0, contact.1, company.0)
        .is_empty());
    assert_eq!(
        w.dissociate(100, company, contact, 7_000),
        Err(ChangeError::NoRecord)
    );
    let gone = (ObjectType::COMPANIES, ObjectType::COMPANIES.id_base() + 99);
    assert_eq!(
        w.associate(100, contact, gone, 7_000),
        Err(ChangeError::NoRecord)
    );
}

#[test]
fn generic_association_events_name_both_types_by_id_and_merges_move_them_to_the_winner() {
    let mut w = world();
    let generic: Vec<Subscription> = w
        .subscriptions()
        .iter()
        .map(Subscription::generic)
        .collect();
    w.set_subscriptions(generic);
    let call = (ObjectType::CALLS, ObjectType::CALLS.id_base() + 3);
    let contact = (ObjectType::CONTACTS, ObjectType::CONTACTS.id_base() + 4);
    let made = w.associate(100, call, contact, 5_000).unwrap();
    assert_eq!(made.len(), 2);
    assert_eq!(made[0].subscription_type, "object.associationChange");
    assert_eq!(made[0].object_type_id.as_deref(), Some("0-48"));
    assert_eq!(
        (
            made[0].from_object_type_id.as_deref(),
            made[0].to_object_type_id.as_deref()
        ),
        (Some("0-48"), Some("0-1"))
    );
    let winner = ObjectType::CONTACTS.id_base() + 5;
    w.merge(100, ObjectType::CONTACTS, winner, contact.1, 6_000)
        .unwrap();
    let call_side = w.associated(100, call.0, call.1, ObjectType::CONTACTS);
    assert_eq!(
        call_side.into_keys().collect::<Vec<_>>(),
        [winner],
        "moved to the winner"
    );
    let winner_side = w.associated(100, ObjectType::CONTACTS, winner, call.0);
    assert_eq!(winner_side.into_keys().collect::<Vec<_>>(), [call.1]);
    assert!(w.associated(100, contact.0, contact.1, call.0).is_empty());
}

#[test]
fn random_association_changes_notify_both_sides_and_follow_the_seed() {
    use rand::SeedableRng;
    let (mut a, mut b) = (world(), world());
    let seeded = |seed| rand::rngs::StdRng::seed_from_u64(seed);
    let first = a.random_association_changes(&mut seeded(3), 40, 1_000);
    let again = b.random_association_changes(&mut seeded(3), 40, 1_000);
    assert_eq!(changed(&first), changed(&again));
    // Each change notifies both sides, but a legacy event names only types with legacy
    // events: a contact is not told of its calls, notes or cars that way.
    assert!((41..80).contains(&first.len()), "{}", first.len());
    let legacy_types = ["CONTACT", "COMPANY", "DEAL", "TICKET", "LINE_ITEM"];
    for event in first.iter().filter_map(|e| e.association_type.as_deref()) {
        let (from, to) = event.split_once("_TO_").unwrap();
        assert!(
            legacy_types.contains(&from) && legacy_types.contains(&to),
            "{event}"
        );
    }
    assert!(first
        .iter()
        .all(|e| e.subscription_type.ends_with(".associationChange")));
    assert!(first
        .iter()
        .any(|e| e.subscription_type == "object.associationChange"));
}
