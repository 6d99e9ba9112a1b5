//! What a claimed event asks of the hydrator, decided from the event alone (reference
//! §2.3, §4.5): creation and property change read the record; deletion marks it deleted
//! without a call; a restore reads the record and its associations again; a merge reads
//! the winner and marks the losers merged; a privacy deletion erases every copy; an
//! association change reads the record's associations to the other type. Generic events (`object.*`) name their type by `objectTypeId` and get
//! the same handling. Anything else (and a type spoke does not hydrate) is kept and marked
//! with the reason, never dropped.

use hubspot::crm::ObjectType;
use hubspot::webhook::{parse_event, EventAction, EventObject, SubscriptionType};
use store::{Claimed, ObjectId};

use super::types::TypeSelection;

/// The hydrator's work for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Fetch {
        object: ObjectType,
        id: ObjectId,
    },
    /// Read the record, and its associations, which HubSpot restores with it.
    Restore {
        object: ObjectType,
        id: ObjectId,
    },
    Delete {
        object: ObjectType,
        id: ObjectId,
    },
    Merge {
        object: ObjectType,
        winner: ObjectId,
        losers: Vec<ObjectId>,
    },
    Erase {
        object: ObjectType,
        id: ObjectId,
    },
    /// Read the record's associations to records of `to` (one of them changed).
    Associations {
        object: ObjectType,
        id: ObjectId,
        to: ObjectType,
    },
    /// Kept and marked, with the reason.
    Unhandled(String),
}

/// The object type an event is about: named by a legacy subscription type
/// (`contact.creation`), or, for a generic one (`object.creation`), by the event's
/// `objectTypeId`; else why spoke cannot tell.
fn object_of(event: &Claimed, kind: &SubscriptionType) -> Result<ObjectType, String> {
    let object = kind.object();
    if object != EventObject::Generic {
        return object
            .object_type()
            .ok_or_else(|| format!("{} events are not hydrated", event.subscription_type));
    }
    let type_id = parse_event(&event.payload)
        .ok()
        .and_then(|e| e.object_type_id)
        .ok_or_else(|| format!("{} without an objectTypeId", event.subscription_type))?;
    ObjectType::from_path(&type_id)
        .ok_or_else(|| format!("objects of type {type_id} are not hydrated"))
}

/// The work `event` asks for; `hydrated` are the object types spoke fetches.
pub fn work(event: &Claimed, hydrated: &TypeSelection) -> Work {
    let kind = SubscriptionType::new(event.subscription_type.as_str());
    let object = match object_of(event, &kind) {
        Ok(object) => object,
        Err(reason) => return Work::Unhandled(reason),
    };
    let id = event.key.object_id;
    // Erasing needs no call and is owed whether or not the type is hydrated: the stored
    // payloads of the record's events carry its data either way.
    if kind.action() == EventAction::PrivacyDeletion {
        return Work::Erase { object, id };
    }
    if !hydrated.includes(object) {
        return Work::Unhandled(format!(
            "{object} are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `{}`)",
            object.read_scope()
        ));
    }
    match kind.action() {
        EventAction::Creation | EventAction::PropertyChange => Work::Fetch { object, id },
        EventAction::Restore => Work::Restore { object, id },
        EventAction::Deletion => Work::Delete { object, id },
        EventAction::PrivacyDeletion => Work::Erase { object, id },
        EventAction::Merge => match parse_event(&event.payload) {
            Ok(merge) => Work::Merge {
                object,
                winner: merge
                    .new_object_id
                    .or(merge.primary_object_id)
                    .map_or(id, ObjectId),
                losers: merge.merged_object_ids.into_iter().map(ObjectId).collect(),
            },
            Err(_) => Work::Unhandled("a merge event whose payload does not parse".into()),
        },
        EventAction::AssociationChange => associations(event, object, id, hydrated),
        EventAction::NewMessage | EventAction::Other => Work::Unhandled(format!(
            "{} events are not hydrated",
            event.subscription_type
        )),
    }
}

/// An association change of record `id`: its associations to the other type are read
/// again (HubSpot's answer holds every association and its kinds, whatever order the
/// changes come in). The other type is named by `toObjectTypeId` (generic events) or by
/// `associationType` (`CONTACT_TO_COMPANY`, legacy ones).
fn associations(
    event: &Claimed,
    object: ObjectType,
    id: ObjectId,
    hydrated: &TypeSelection,
) -> Work {
    let Ok(change) = parse_event(&event.payload) else {
        return Work::Unhandled("an association change whose payload does not parse".into());
    };
    let named = change
        .to_object_type_id
        .as_deref()
        .and_then(ObjectType::from_path)
        .or_else(|| {
            let (_, to) = change.association_type.as_deref()?.split_once("_TO_")?;
            ObjectType::from_legacy_name(&to.to_ascii_lowercase())
        });
    let Some(to) = named else {
        return Work::Unhandled("an association change that names no known other type".into());
    };
    if !hydrated.includes(to) {
        return Work::Unhandled(format!(
            "associations with {to} are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `{}`)",
            to.read_scope()
        ));
    }
    let id = change.from_object_id.map_or(id, ObjectId);
    Work::Associations { object, id, to }
}

#[cfg(test)]
pub(super) mod tests {
    use store::{EventKey, PortalId};

    use super::*;

    /// A claimed event of portal 1 about object 5, for the hydrator's unit tests.
    pub(in crate::workers::hydrator) fn event(subscription_type: &str, payload: &str) -> Claimed {
        Claimed {
            id: 1,
            key: EventKey {
                portal_id: PortalId(1),
                subscription_id: 1,
                event_id: 1,
                object_id: ObjectId(5),
                occurred_at: 0,
            },
            subscription_type: subscription_type.into(),
            payload: payload.into(),
            attempts: 0,
            trace_context: None,
        }
    }

    /// Every standard type spoke knows and every custom object.
    fn all() -> TypeSelection {
        let standard: Vec<String> = ObjectType::STANDARD.iter().map(|o| o.to_string()).collect();
        TypeSelection::parse(&format!("{} custom", standard.join(" "))).unwrap()
    }

    fn only(names: &str) -> TypeSelection {
        TypeSelection::parse(names).unwrap()
    }

    #[test]
    fn each_event_type_gets_the_handling_its_meaning_needs() {
        let contacts = ObjectType::CONTACTS;
        let cases = [
            (
                "contact.creation",
                Work::Fetch {
                    object: contacts,
                    id: ObjectId(5),
                },
            ),
            (
                "contact.propertyChange",
                Work::Fetch {
                    object: contacts,
                    id: ObjectId(5),
                },
            ),
            (
                "contact.restore",
                Work::Restore {
                    object: contacts,
                    id: ObjectId(5),
                },
            ),
            (
                "contact.deletion",
                Work::Delete {
                    object: contacts,
                    id: ObjectId(5),
                },
            ),
            (
                "contact.privacyDeletion",
                Work::Erase {
                    object: contacts,
                    id: ObjectId(5),
                },
            ),
            (
                "line_item.creation",
                Work::Fetch {
                    object: ObjectType::LINE_ITEMS,
                    id: ObjectId(5),
                },
            ),
        ];
        for (kind, expected) in cases {
            assert_eq!(work(&event(kind, "{}"), &all()), expected, "{kind}");
        }
    }

    #[test]
    fn a_merge_reads_the_winner_and_names_the_losers() {
        let merge = event(
            "deal.merge",
            r#"{"eventId":1,"portalId":1,"subscriptionType":"deal.merge","objectId":5,"primaryObjectId":5,"mergedObjectIds":[6,7]}"#,
        );
        assert_eq!(
            work(&merge, &all()),
            Work::Merge {
                object: ObjectType::DEALS,
                winner: ObjectId(5),
                losers: vec![ObjectId(6), ObjectId(7)]
            }
        );
        assert!(matches!(
            work(&event("deal.merge", "{}"), &all()),
            Work::Unhandled(_)
        ));
    }

    /// A generic event (`object.*`) is handled as the legacy event of the type its
    /// `objectTypeId` names; a type spoke does not know is kept with the type id.
    #[test]
    fn a_generic_event_is_handled_as_its_objects_legacy_one() {
        let generic = |kind: &str, type_id: &str| {
            event(
                kind,
                &format!(
                    r#"{{"eventId":1,"portalId":1,"subscriptionType":"{kind}","objectTypeId":"{type_id}","objectId":5,"primaryObjectId":5,"mergedObjectIds":[6]}}"#
                ),
            )
        };
        let deals = ObjectType::DEALS;
        let cases = [
            (
                "object.propertyChange",
                "0-3",
                Work::Fetch {
                    object: deals,
                    id: ObjectId(5),
                },
            ),
            (
                "object.deletion",
                "0-8",
                Work::Delete {
                    object: ObjectType::LINE_ITEMS,
                    id: ObjectId(5),
                },
            ),
            (
                "object.merge",
                "0-3",
                Work::Merge {
                    object: deals,
                    winner: ObjectId(5),
                    losers: vec![ObjectId(6)],
                },
            ),
            (
                "object.privacyDeletion",
                "0-1",
                Work::Erase {
                    object: ObjectType::CONTACTS,
                    id: ObjectId(5),
                },
            ),
            (
                "object.creation",
                "2-1234",
                Work::Fetch {
                    object: ObjectType::custom(1234),
                    id: ObjectId(5),
                },
            ),
            (
                "object.propertyChange",
                "0-48",
                Work::Fetch {
                    object: ObjectType::CALLS,
                    id: ObjectId(5),
                },
            ),
            (
                "object.creation",
                "0-52",
                Work::Unhandled("objects of type 0-52 are not hydrated".into()),
            ),
        ];
        for (kind, type_id, expected) in cases {
            assert_eq!(
                work(&generic(kind, type_id), &all()),
                expected,
                "{kind} {type_id}"
            );
        }
        assert_eq!(
            work(&event("object.creation", "{}"), &all()),
            Work::Unhandled("object.creation without an objectTypeId".into())
        );
        assert_eq!(
            work(&generic("object.creation", "0-1"), &only("deals")),
            Work::Unhandled("contacts are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `crm.objects.contacts.read`)".into())
        );
    }

    #[test]
    fn an_association_change_reads_the_records_associations_to_the_other_type() {
        let change = |kind: &str, fields: &str| {
            event(
                kind,
                &format!(
                    r#"{{"eventId":1,"portalId":1,"subscriptionType":"{kind}","objectId":5,"fromObjectId":5,"toObjectId":9,{fields}}}"#
                ),
            )
        };
        let legacy = change(
            "contact.associationChange",
            r#""associationType":"CONTACT_TO_LINE_ITEM""#,
        );
        assert_eq!(
            work(&legacy, &all()),
            Work::Associations {
                object: ObjectType::CONTACTS,
                id: ObjectId(5),
                to: ObjectType::LINE_ITEMS
            }
        );
        let generic = change(
            "object.associationChange",
            r#""objectTypeId":"0-48","fromObjectTypeId":"0-48","toObjectTypeId":"2-7""#,
        );
        assert_eq!(
            work(&generic, &all()),
            Work::Associations {
                object: ObjectType::CALLS,
                id: ObjectId(5),
                to: ObjectType::custom(7)
            }
        );
        assert_eq!(
            work(&legacy, &only("contacts")),
            Work::Unhandled("associations with line_items are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `e-commerce`)".into())
        );
        let unnamed = change(
            "contact.associationChange",
            r#""associationType":"CONTACT_TO_SPACESHIP""#,
        );
        assert!(matches!(work(&unnamed, &all()), Work::Unhandled(_)));
    }

    #[test]
    fn unknown_and_unhydrated_types_are_kept_and_marked() {
        for kind in [
            "contact.associationChange",
            "event.completed",
            "conversation.newMessage",
            "weird",
        ] {
            assert!(
                matches!(work(&event(kind, "{}"), &all()), Work::Unhandled(_)),
                "{kind}"
            );
        }
        let only_deals = only("deals");
        assert_eq!(
            work(&event("contact.creation", "{}"), &only_deals),
            Work::Unhandled("contacts are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `crm.objects.contacts.read`)".into())
        );
        assert_eq!(
            work(&event("contact.privacyDeletion", "{}"), &only_deals),
            Work::Erase {
                object: ObjectType::CONTACTS,
                id: ObjectId(5)
            },
            "a privacy deletion is honoured for every type"
        );
    }
}
