//! Shipments as the vault sees them: the input shape (also the body of
//! `POST /v1/shipments` and a JSONL import line), validation into normalised
//! values, the status lifecycle, and the stored record (masked view only).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::address::{self, Address};
use crate::error::{FieldError, VaultError};

/// Sender or recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Who sends the parcel (real-name registered).
    Sender,
    /// Who receives it.
    Recipient,
}

impl Party {
    /// Both parties.
    pub const ALL: [Party; 2] = [Party::Sender, Party::Recipient];

    /// Its name in APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Sender => "sender",
            Party::Recipient => "recipient",
        }
    }
}

impl FromStr for Party {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sender" => Ok(Party::Sender),
            "recipient" => Ok(Party::Recipient),
            _ => Err(VaultError::invalid(
                "party",
                "expected `sender` or `recipient`",
            )),
        }
    }
}

/// A personal field of a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Full name.
    Name,
    /// Phone number.
    Phone,
    /// Postal address.
    Address,
    /// Resident ID number (senders only).
    IdNumber,
}

impl Field {
    /// All fields.
    pub const ALL: [Field; 4] = [Field::Name, Field::Phone, Field::Address, Field::IdNumber];

    /// Its name in APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::IdNumber => "id_number",
        }
    }
}

impl FromStr for Field {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                VaultError::invalid(
                    "field",
                    "expected `name`, `phone`, `address` or `id_number`",
                )
            })
    }
}

/// The encrypted slots of a shipment: every (party, field) pair except the
/// recipient's ID number, which is never collected.
pub const SLOTS: [(Party, Field); 7] = [
    (Party::Sender, Field::Name),
    (Party::Sender, Field::Phone),
    (Party::Sender, Field::Address),
    (Party::Sender, Field::IdNumber),
    (Party::Recipient, Field::Name),
    (Party::Recipient, Field::Phone),
    (Party::Recipient, Field::Address),
];

/// Index of a slot in [`SLOTS`].
pub fn slot(party: Party, field: Field) -> Option<usize> {
    SLOTS.iter().position(|&s| s == (party, field))
}

/// A shipment's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Order placed, label printed.
    Created,
    /// Courier collected the parcel.
    PickedUp,
    /// Between stations.
    InTransit,
    /// With the delivering courier.
    OutForDelivery,
    /// Handed over (terminal).
    Delivered,
    /// Sent back to the sender (terminal).
    Returned,
}

impl Status {
    /// All states, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Created,
        Status::PickedUp,
        Status::InTransit,
        Status::OutForDelivery,
        Status::Delivered,
        Status::Returned,
    ];

    /// Its name in APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::PickedUp => "picked_up",
            Status::InTransit => "in_transit",
            Status::OutForDelivery => "out_for_delivery",
            Status::Delivered => "delivered",
            Status::Returned => "returned",
        }
    }

    /// Whether nothing follows this state.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Delivered | Status::Returned)
    }

    /// Whether the lifecycle allows `self → next`: one step forward, or a
    /// return once the parcel is on its way.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Created, PickedUp)
                | (PickedUp, InTransit)
                | (InTransit, OutForDelivery)
                | (OutForDelivery, Delivered)
                | (PickedUp | InTransit | OutForDelivery, Returned)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| VaultError::invalid("status", "unknown status"))
    }
}

/// An address as given: one line, or already structured.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(untagged)]
pub enum AddressInput {
    /// `"广东省深圳市南山区科技园路1号"`.
    Text(String),
    /// `{"province": …, "city": …, "district": …, "detail": …}`.
    Structured(Address),
}

impl fmt::Debug for AddressInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddressInput(<redacted>)")
    }
}

/// A party as submitted. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct PartyInput {
    /// Full name.
    pub name: String,
    /// Phone number, with or without `+86`, spaces, dashes.
    pub phone: String,
    /// Address.
    pub address: AddressInput,
    /// Resident ID number (required for senders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
}

impl fmt::Debug for PartyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartyInput(<redacted>)")
    }
}

/// A delivery window (Unix seconds, or RFC 3339 text in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start.
    #[serde(with = "time::serde::rfc3339")]
    pub start: time::OffsetDateTime,
    /// End.
    #[serde(with = "time::serde::rfc3339")]
    pub end: time::OffsetDateTime,
}

/// A new shipment as submitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewShipment {
    /// Waybill number, unique per tenant.
    pub waybill_no: String,
    /// Carrier code (`SF`, `YTO`, `ZTO`, `JD`, …).
    pub carrier: String,
    /// Sender.
    pub sender: PartyInput,
    /// Recipient.
    pub recipient: PartyInput,
    /// Station the parcel starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_station: Option<String>,
    /// Station that delivers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_station: Option<String>,
    /// Assigned courier (employee id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courier: Option<String>,
    /// Delivery window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_window: Option<Window>,
}

/// A validated, normalised party.
#[derive(Clone)]
pub struct CleanParty {
    /// Name, trimmed.
    pub name: Zeroizing<String>,
    /// Phone as national digits (`13812345678`, `01062345678`).
    pub phone: Zeroizing<String>,
    /// Structured address.
    pub address: Address,
    /// Whether the address could not be placed in the division table.
    pub address_unparsed: bool,
    /// ID number, upper-case.
    pub id_number: Option<Zeroizing<String>>,
}

impl fmt::Debug for CleanParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CleanParty(<redacted>)")
    }
}

impl CleanParty {
    /// The plaintext of one field, as stored (the address as JSON).
    pub fn field_plaintext(&self, field: Field) -> Option<Zeroizing<Vec<u8>>> {
        match field {
            Field::Name => Some(Zeroizing::new(self.name.as_bytes().to_vec())),
            Field::Phone => Some(Zeroizing::new(self.phone.as_bytes().to_vec())),
            Field::Address => serde_json::to_vec(&self.address).ok().map(Zeroizing::new),
            Field::IdNumber => self
                .id_number
                .as_ref()
                .map(|id| Zeroizing::new(id.as_bytes().to_vec())),
        }
    }
}

/// A validated shipment.
#[derive(Debug, Clone)]
pub struct CleanShipment {
    /// Waybill number.
    pub waybill_no: String,
    /// Carrier code, upper-case.
    pub carrier: String,
    /// Sender.
    pub sender: CleanParty,
    /// Recipient.
    pub recipient: CleanParty,
    /// Origin station.
    pub origin_station: Option<String>,
    /// Destination station.
    pub destination_station: Option<String>,
    /// Courier.
    pub courier: Option<String>,
    /// Delivery window (Unix seconds).
    pub window: Option<(i64, i64)>,
}

impl CleanShipment {
    /// One party.
    pub fn party(&self, party: Party) -> &CleanParty {
        match party {
            Party::Sender => &self.sender,
            Party::Recipient => &self.recipient,
        }
    }
}

/// Normalises a phone number to national digits, or says why it is not one.
pub fn normalize_phone(raw: &str) -> Result<String, &'static str> {
    let mut digits = String::with_capacity(raw.len());
    for (i, c) in raw.trim().chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' => {}
            _ => {
                return Err(
                    "contains characters other than digits, spaces, dashes and a leading +",
                );
            }
        }
    }
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix)
            && rest.len() == 11
            && parcel_detect::validate::cn_mobile(rest.as_bytes())
        {
            return Ok(rest.to_owned());
        }
    }
    if parcel_detect::validate::cn_mobile(digits.as_bytes())
        || parcel_detect::validate::cn_landline(digits.as_bytes()).is_some()
    {
        Ok(digits)
    } else {
        Err(
            "not a mainland mobile number in an allocated segment or a landline with a real area code",
        )
    }
}

/// Normalises a resident ID number, or says why it is not one.
pub fn normalize_id(raw: &str) -> Result<String, &'static str> {
    let id = raw.trim().to_ascii_uppercase();
    if parcel_detect::validate::resident_id(id.as_bytes()).is_some() {
        Ok(id)
    } else {
        Err("not a valid resident ID number (region, birth date or check digit)")
    }
}

/// Normalises a name for matching: trimmed, inner whitespace and middle dots
/// removed, Latin letters lower-cased.
pub fn normalize_name(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn check_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    let count = name.chars().count();
    if count == 0 {
        return Err("must not be empty");
    }
    if count > 40 {
        return Err("longer than 40 characters");
    }
    if name
        .chars()
        .any(|c| c.is_ascii_digit() || c.is_control() || c == '@')
    {
        return Err("contains digits, control characters or @; is it a name?");
    }
    Ok(name.to_owned())
}

fn check_code(value: &str, field: &str, max: usize, errors: &mut Vec<FieldError>) {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        errors.push(FieldError {
            field: field.to_owned(),
            reason: format!("must be 1 to {max} letters, digits, `-` or `_`"),
        });
    }
}

fn clean_party(
    input: &PartyInput,
    path: &str,
    needs_id: bool,
    errors: &mut Vec<FieldError>,
) -> Option<CleanParty> {
    let mut err = |field: &str, reason: &str| {
        errors.push(FieldError {
            field: format!("{path}.{field}"),
            reason: reason.to_owned(),
        });
    };
    let name = check_name(&input.name).map_err(|r| err("name", r)).ok();
    let phone = normalize_phone(&input.phone)
        .map_err(|r| err("phone", r))
        .ok();
    let id_number = match (&input.id_number, needs_id) {
        (Some(id), _) => match normalize_id(id) {
            Ok(id) => Some(Some(id)),
            Err(r) => {
                err("id_number", r);
                None
            }
        },
        (None, true) => {
            err(
                "id_number",
                "required for the sender (real-name registration)",
            );
            None
        }
        (None, false) => Some(None),
    };
    let (address, unparsed) = match &input.address {
        AddressInput::Text(text) => {
            let parsed = address::parse(text);
            (parsed.address.clone(), !parsed.parsed)
        }
        AddressInput::Structured(a) => {
            let trimmed = Address {
                province: a.province.trim().to_owned(),
                city: a.city.trim().to_owned(),
                district: a.district.trim().to_owned(),
                detail: a.detail.trim().to_owned(),
            };
            let unparsed = trimmed.province.is_empty() && trimmed.city.is_empty();
            (trimmed, unparsed)
        }
    };
    let len = address.one_line().chars().count();
    if address.detail.is_empty() && len == 0 {
        err("address", "must not be empty");
    } else if len > 200 {
        err("address", "longer than 200 characters");
    }
    if input.id_number.is_some() && !needs_id {
        err("id_number", "only the sender's ID number is collected");
    }
    Some(CleanParty {
        name: Zeroizing::new(name?),
        phone: Zeroizing::new(phone?),
        address,
        address_unparsed: unparsed,
        id_number: id_number?.map(Zeroizing::new),
    })
}

impl NewShipment {
    /// Validates and normalises, collecting every problem with its path
    /// (prefixed by `path`, e.g. `shipments[3].`).
    pub fn validate(&self, path: &str) -> Result<CleanShipment, VaultError> {
        let mut errors = Vec::new();
        check_code(
            &self.waybill_no,
            &format!("{path}waybill_no"),
            40,
            &mut errors,
        );
        let carrier_ok = (1..=16).contains(&self.carrier.chars().count())
            && self
                .carrier
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !carrier_ok {
            errors.push(FieldError {
                field: format!("{path}carrier"),
                reason: "must be 1 to 16 letters (any script), digits, `-` or `_`".to_owned(),
            });
        }
        for (value, name) in [
            (&self.origin_station, "origin_station"),
            (&self.destination_station, "destination_station"),
            (&self.courier, "courier"),
        ] {
            if let Some(v) = value {
                check_code(v, &format!("{path}{name}"), 64, &mut errors);
            }
        }
        let window = self
            .delivery_window
            .map(|w| (w.start.unix_timestamp(), w.end.unix_timestamp()));
        if let Some((s, e)) = window
            && e <= s
        {
            errors.push(FieldError {
                field: format!("{path}delivery_window"),
                reason: "end must be after start".to_owned(),
            });
        }
        let sender = clean_party(&self.sender, &format!("{path}sender"), true, &mut errors);
        let recipient = clean_party(
            &self.recipient,
            &format!("{path}recipient"),
            false,
            &mut errors,
        );
        match (sender, recipient) {
            (Some(sender), Some(recipient)) if errors.is_empty() => Ok(CleanShipment {
                waybill_no: self.waybill_no.clone(),
                carrier: self.carrier.to_uppercase(),
                sender,
                recipient,
                origin_station: self.origin_station.clone(),
                destination_station: self.destination_station.clone(),
                courier: self.courier.clone(),
                window,
            }),
            _ => Err(VaultError::Invalid(errors)),
        }
    }
}

/// Masked values of one party, as stored at write time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedParty {
    /// `张**`.
    pub name: String,
    /// `138******78`.
    pub phone: String,
    /// `广东省深圳市南山区科技园路*号*栋`.
    pub address: String,
    /// `1****************X`, senders only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// Set when the address could not be parsed into divisions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub address_unparsed: bool,
    /// Set once this party's data was erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// Masked values of both parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedView {
    /// Sender.
    pub sender: MaskedParty,
    /// Recipient.
    pub recipient: MaskedParty,
}

/// A stored shipment without its ciphertexts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    /// Tenant.
    pub tenant: String,
    /// Waybill number.
    pub waybill_no: String,
    /// Carrier.
    pub carrier: String,
    /// Current status.
    pub status: Status,
    /// Origin station.
    pub origin_station: Option<String>,
    /// Destination station.
    pub destination_station: Option<String>,
    /// Assigned courier.
    pub courier: Option<String>,
    /// Delivery window (Unix seconds).
    pub window: Option<(i64, i64)>,
    /// Encryption period (`YYYY-MM` of creation).
    pub period: String,
    /// Unix seconds of each status reached, in [`Status::ALL`] order.
    pub status_times: [Option<i64>; 6],
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// Masked view.
    pub masked: MaskedView,
    /// When retention purged the ciphertexts.
    pub purged_at: Option<i64>,
}

impl ShipmentRecord {
    /// Creation time.
    pub fn created_at(&self) -> i64 {
        self.status_times[0].unwrap_or(self.updated_at)
    }
}

/// A change to a shipment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentPatch {
    /// New status (checked against the lifecycle).
    #[serde(default)]
    pub status: Option<Status>,
    /// New courier.
    #[serde(default)]
    pub courier: Option<String>,
    /// New delivery window.
    #[serde(default)]
    pub delivery_window: Option<Window>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(name: &str, phone: &str, address: &str, id: Option<&str>) -> PartyInput {
        PartyInput {
            name: name.to_owned(),
            phone: phone.to_owned(),
            address: AddressInput::Text(address.to_owned()),
            id_number: id.map(str::to_owned),
        }
    }

    pub(crate) fn sample() -> NewShipment {
        NewShipment {
            waybill_no: "SF1234567890123".to_owned(),
            carrier: "sf".to_owned(),
            sender: party(
                "张三",
                "+86 138-1234-5678",
                "广东省深圳市南山区科技园路1号",
                Some("11010519491231002x"),
            ),
            recipient: party(
                "欧阳娜娜",
                "010-62345678",
                "北京市朝阳区建国路88号2单元301室",
                None,
            ),
            origin_station: Some("SZ01".to_owned()),
            destination_station: Some("BJ07".to_owned()),
            courier: None,
            delivery_window: None,
        }
    }

    #[test]
    fn validates_and_normalises() {
        let clean = sample().validate("").unwrap();
        assert_eq!(clean.carrier, "SF");
        assert_eq!(clean.sender.phone.as_str(), "13812345678");
        assert_eq!(clean.recipient.phone.as_str(), "01062345678");
        assert_eq!(
            clean.sender.id_number.as_deref().map(String::as_str),
            Some("11010519491231002X")
        );
        assert_eq!(clean.recipient.address.district, "朝阳区");
        assert!(!clean.recipient.address_unparsed);
    }

    /// (mutation, expected field path)
    #[test]
    fn errors_name_the_field_and_never_the_value() {
        type Mutate = fn(&mut NewShipment);
        let cases: &[(Mutate, &str)] = &[
            (|s| s.recipient.phone = "12345".into(), "recipient.phone"),
            (|s| s.sender.phone = "19912345678x".into(), "sender.phone"),
            (
                |s| s.sender.id_number = Some("110105194912310021".into()),
                "sender.id_number",
            ),
            (|s| s.sender.id_number = None, "sender.id_number"),
            (
                |s| s.recipient.id_number = Some("11010519491231002X".into()),
                "recipient.id_number",
            ),
            (|s| s.recipient.name = "  ".into(), "recipient.name"),
            (|s| s.recipient.name = "张3".into(), "recipient.name"),
            (|s| s.waybill_no = "SF 123".into(), "waybill_no"),
            (
                |s| s.sender.address = AddressInput::Text(String::new()),
                "sender.address",
            ),
        ];
        for (mutate, field) in cases {
            let mut s = sample();
            mutate(&mut s);
            let err = s.validate("").unwrap_err();
            let VaultError::Invalid(errors) = &err else {
                panic!("{err}")
            };
            assert_eq!(errors.len(), 1, "{field}: {errors:?}");
            assert_eq!(errors[0].field, *field);
            let text = err.to_string();
            for secret in ["12345", "110105194912310021", "张3"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }

    #[test]
    fn lifecycle() {
        use Status::*;
        assert!(Created.can_become(PickedUp));
        assert!(OutForDelivery.can_become(Delivered));
        assert!(InTransit.can_become(Returned));
        assert!(!Created.can_become(Delivered));
        assert!(!Delivered.can_become(Returned));
        assert!(!Returned.can_become(InTransit));
        assert!(!Created.can_become(Created));
    }

    #[test]
    fn json_shapes() {
        let json = r#"{"waybill_no":"YT1","carrier":"YTO",
            "sender":{"name":"李四","phone":"13912345678","address":{"province":"浙江省","city":"杭州市","district":"西湖区","detail":"文三路90号"},"id_number":"11010519491231002X"},
            "recipient":{"name":"王五","phone":"13712345678","address":"上海市浦东新区世纪大道100号"},
            "delivery_window":{"start":"2026-11-22T09:00:00+08:00","end":"2026-11-22T12:00:00+08:00"}}"#;
        let s: NewShipment = serde_json::from_str(json).unwrap();
        let clean = s.validate("").unwrap();
        assert_eq!(clean.sender.address.city, "杭州市");
        assert_eq!(clean.window.map(|(a, b)| b - a), Some(3 * 3600));
        assert!(format!("{s:?}").find("李四").is_none());
    }
}
