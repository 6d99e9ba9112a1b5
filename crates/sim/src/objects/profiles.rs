//! How the simulator shows each type it serves: the properties a request without any gets,
//! those its activity changes, how many more a portal defines, and the name HubSpot's
//! errors use for it; one profile a type, in [`SIMULATED`]'s order.

use hubspot::crm::ObjectType;

/// The custom object every simulated portal defines: cars, as an app's own object would be
/// (one type id for every portal, as HubSpot gives an app-defined object).
pub const CARS: ObjectType = ObjectType::custom(3_508_482);

/// Every type the simulator serves: HubSpot's standard types spoke knows, and [`CARS`].
pub const SIMULATED: [ObjectType; 15] = {
    let mut all = [CARS; 15];
    let mut i = 0;
    while i < ObjectType::STANDARD.len() {
        all[i] = ObjectType::STANDARD[i];
        i += 1;
    }
    all
};

/// How the simulator shows a type: its properties and the name its errors use.
pub(super) struct Profile {
    pub(super) defaults: &'static [&'static str],
    pub(super) changing: &'static [&'static str],
    pub(super) more: usize,
    /// The name HubSpot uses in "Could not get some CONTACT objects" messages.
    pub(super) upper: &'static str,
}

const fn profile(
    upper: &'static str,
    defaults: &'static [&'static str],
    changing: &'static [&'static str],
) -> Profile {
    Profile {
        defaults,
        changing,
        more: 50,
        upper,
    }
}

/// The defaults of the engagements: HubSpot's bookkeeping and the timeline time.
macro_rules! engagement_defaults {
    ($($name:literal),*) => {
        &["createdate", "hs_lastmodifieddate", "hs_object_id", "hs_timestamp", $($name),*]
    };
}

/// The profile of the type at `rank` in [`SIMULATED`].
pub(super) fn profile_of(rank: usize) -> &'static Profile {
    &PROFILES[rank]
}

const CONTACTS: Profile = Profile {
    more: 300,
    ..profile(
        "CONTACT",
        &[
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        ],
        &["firstname", "lastname", "email", "lifecyclestage", "phone"],
    )
};
const PROFILES: [Profile; SIMULATED.len()] = [
    CONTACTS,
    profile(
        "COMPANY",
        &[
            "createdate",
            "domain",
            "hs_lastmodifieddate",
            "hs_object_id",
            "name",
        ],
        &["name", "domain", "industry", "city"],
    ),
    profile(
        "DEAL",
        &[
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ],
        &["dealname", "amount", "dealstage"],
    ),
    profile(
        "TICKET",
        &[
            "content",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_ticket_priority",
            "subject",
        ],
        &["subject", "hs_pipeline_stage", "hs_ticket_priority"],
    ),
    profile(
        "PRODUCT",
        &[
            "createdate",
            "description",
            "hs_lastmodifieddate",
            "hs_object_id",
            "name",
            "price",
        ],
        &["name", "price", "description"],
    ),
    profile(
        "LINE_ITEM",
        &[
            "amount",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
            "name",
            "price",
            "quantity",
        ],
        &["quantity", "price"],
    ),
    profile(
        "QUOTE",
        &[
            "createdate",
            "hs_expiration_date",
            "hs_lastmodifieddate",
            "hs_object_id",
            "hs_status",
            "hs_title",
        ],
        &["hs_title", "hs_status"],
    ),
    profile(
        "TASK",
        engagement_defaults!("hs_task_status", "hs_task_subject"),
        &["hs_task_subject", "hs_task_status"],
    ),
    profile(
        "NOTE",
        engagement_defaults!("hs_note_body"),
        &["hs_note_body"],
    ),
    profile(
        "MEETING_EVENT",
        engagement_defaults!("hs_meeting_outcome", "hs_meeting_title"),
        &["hs_meeting_title", "hs_meeting_outcome"],
    ),
    profile(
        "CALL",
        engagement_defaults!("hs_call_status", "hs_call_title"),
        &["hs_call_title", "hs_call_status"],
    ),
    profile(
        "EMAIL",
        engagement_defaults!("hs_email_status", "hs_email_subject"),
        &["hs_email_subject", "hs_email_status"],
    ),
    profile(
        "COMMUNICATION",
        engagement_defaults!("hs_communication_body", "hs_communication_channel_type"),
        &["hs_communication_body"],
    ),
    profile(
        "POSTAL_MAIL",
        engagement_defaults!("hs_postal_mail_body"),
        &["hs_postal_mail_body"],
    ),
    profile(
        "CAR",
        &[
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
            "make",
            "model",
            "year",
        ],
        &["model", "year"],
    ),
];
