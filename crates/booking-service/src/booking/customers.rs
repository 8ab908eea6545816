//! The people in a booking: reusing a known customer or creating one.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{BookingError, Role};
use crate::db::schema::customers;
use crate::domain::names;

/// The information names a product may require (getRequiredInfo).
pub const INFO_NAMES: [&str; 9] = [
    "firstname",
    "lastname",
    "dob",
    "phone",
    "email",
    "street",
    "zip",
    "city",
    "country",
];

/// A person as a booking names them; every field already validated and trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// A customer id from an earlier answer, when the caller has one.
    pub id: Option<Uuid>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Phone in E.164.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Street and number.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
}

impl Person {
    /// Returns whether the person carries the information called `info` (see
    /// [`INFO_NAMES`]).
    pub fn has(&self, info: &str) -> bool {
        match info {
            "firstname" => self.first_name.is_some(),
            "lastname" => self.last_name.is_some(),
            "dob" => self.date_of_birth.is_some(),
            "phone" => self.phone.is_some(),
            "email" => self.email.is_some(),
            "street" => self.street.is_some(),
            "zip" => self.zip.is_some(),
            "city" => self.city.is_some(),
            "country" => self.country.is_some(),
            _ => true,
        }
    }
}

/// Returns the `(role, info)` pairs that `required` asks for and `person` lacks.
pub fn missing_info(role: Role, person: &Person, required: &[String]) -> Vec<(Role, &'static str)> {
    INFO_NAMES
        .iter()
        .filter(|info| required.iter().any(|wanted| wanted == *info) && !person.has(info))
        .map(|info| (role, *info))
        .collect()
}

/// A stored customer, as the lookups return it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct CustomerRow {
    /// Customer id.
    pub id: Uuid,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Phone, E.164.
    pub phone_e164: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// Returns the tenant's live customers whose names match `person`'s (case- and
/// accent-insensitively), narrowed by date of birth and phone when those are given.
pub async fn find_matching(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    person: &Person,
) -> QueryResult<Vec<CustomerRow>> {
    let mut query = customers::table
        .filter(customers::tenant_id.eq(tenant_id))
        .filter(customers::deleted_at.is_null())
        .select(CustomerRow::as_select())
        .order(customers::id)
        .limit(50)
        .into_boxed();
    if let Some(id) = person.id {
        query = query.filter(customers::id.eq(id));
    }
    if let Some(first_name) = &person.first_name {
        query = query.filter(customers::first_name_folded.eq(names::fold(first_name)));
    }
    if let Some(last_name) = &person.last_name {
        query = query.filter(customers::last_name_folded.eq(names::fold(last_name)));
    }
    if let Some(date_of_birth) = person.date_of_birth {
        query = query.filter(customers::date_of_birth.eq(date_of_birth));
    }
    if let Some(phone) = &person.phone {
        query = query.filter(customers::phone_e164.eq(phone));
    }
    query.load(connection).await
}

/// The customer a booking is for, as stored once [`resolve`] has run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCustomer {
    /// Customer id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Phone, E.164, when known.
    pub phone: Option<String>,
    /// Locale reminders are written in.
    pub locale: String,
}

/// Returns the customer `person` is: the one with their id, or the one with the same names
/// and the same date of birth or phone; otherwise a new customer.
///
/// Names alone never merge two people: without a date of birth or a phone to confirm, a
/// new customer is created.
pub async fn resolve(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    person: &Person,
    locale: &str,
) -> Result<ResolvedCustomer, BookingError> {
    if let Some(id) = person.id {
        let known: Option<Uuid> = customers::table
            .filter(customers::id.eq(id))
            .filter(customers::tenant_id.eq(tenant_id))
            .filter(customers::deleted_at.is_null())
            .select(customers::id)
            .first(connection)
            .await
            .optional()?;
        if let Some(id) = known {
            return Ok(fill_in(connection, id, person).await?);
        }
    }
    let confirmable = person.date_of_birth.is_some() || person.phone.is_some();
    if confirmable && person.last_name.is_some() {
        let lookup = Person {
            id: None,
            first_name: person.first_name.clone(),
            last_name: person.last_name.clone(),
            date_of_birth: person.date_of_birth,
            phone: if person.date_of_birth.is_some() {
                None
            } else {
                person.phone.clone()
            },
            ..Person::default()
        };
        if let Some(existing) = find_matching(connection, tenant_id, &lookup)
            .await?
            .into_iter()
            .next()
        {
            return Ok(fill_in(connection, existing.id, person).await?);
        }
    }
    let first_name = person.first_name.clone().unwrap_or_default();
    let last_name = person.last_name.clone().unwrap_or_default();
    let display_name = format!("{first_name} {last_name}").trim().to_owned();
    let id = Uuid::now_v7();
    diesel::insert_into(customers::table)
        .values((
            customers::id.eq(id),
            customers::tenant_id.eq(tenant_id),
            customers::name.eq(&display_name),
            customers::first_name_folded.eq(names::fold(&first_name)),
            customers::last_name_folded.eq(names::fold(&last_name)),
            customers::first_name.eq(&first_name),
            customers::last_name.eq(&last_name),
            customers::date_of_birth.eq(person.date_of_birth),
            customers::phone_e164.eq(&person.phone),
            customers::email.eq(&person.email),
            customers::street.eq(&person.street),
            customers::zip.eq(&person.zip),
            customers::city.eq(&person.city),
            customers::country.eq(&person.country),
            customers::locale.eq(locale),
        ))
        .execute(connection)
        .await?;
    Ok(ResolvedCustomer {
        id,
        name: display_name,
        phone: person.phone.clone(),
        locale: locale.to_owned(),
    })
}

/// Stores what the caller just told us about a known customer, keeping what they did not
/// mention.
async fn fill_in(
    connection: &mut AsyncPgConnection,
    id: Uuid,
    person: &Person,
) -> QueryResult<ResolvedCustomer> {
    let (current, name, locale): (CustomerRow, String, String) = customers::table
        .find(id)
        .select((CustomerRow::as_select(), customers::name, customers::locale))
        .first(connection)
        .await?;
    let phone = person.phone.clone().or_else(|| current.phone_e164.clone());
    let newer = |given: &Option<String>, stored: Option<String>| given.clone().or(stored);
    diesel::update(customers::table.find(id))
        .set((
            customers::date_of_birth.eq(person.date_of_birth.or(current.date_of_birth)),
            customers::phone_e164.eq(newer(&person.phone, current.phone_e164)),
            customers::email.eq(newer(&person.email, current.email)),
            customers::street.eq(newer(&person.street, current.street)),
            customers::zip.eq(newer(&person.zip, current.zip)),
            customers::city.eq(newer(&person.city, current.city)),
            customers::country.eq(newer(&person.country, current.country)),
            customers::updated_at.eq(diesel::dsl::now),
        ))
        .execute(connection)
        .await?;
    Ok(ResolvedCustomer {
        id,
        name,
        phone,
        locale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_info_lists_what_the_product_requires_and_the_person_lacks() {
        let person = Person {
            first_name: Some("Max".into()),
            phone: Some("+4934112345".into()),
            ..Person::default()
        };
        let required = vec![
            "firstname".to_owned(),
            "lastname".to_owned(),
            "dob".to_owned(),
        ];
        assert_eq!(
            missing_info(Role::Participant, &person, &required),
            [(Role::Participant, "lastname"), (Role::Participant, "dob")]
        );
        assert!(missing_info(Role::Booker, &person, &["phone".to_owned()]).is_empty());
    }
}

/// A person as a dialect received them, every field still raw text.
#[derive(Debug, Clone, Default)]
pub struct RawPerson {
    /// Customer id from an earlier answer.
    pub id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Phone, E.164 or national in the tenant's region.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// The longest free-text person field.
const MAX_PERSON_TEXT: usize = 200;

/// Validates `raw` into a [`Person`], recording each failing field in `issues` as
/// `<prefix>.<name>`, where `field_name` turns an info name (see [`INFO_NAMES`]) into the
/// dialect's field name. Blank fields count as absent; an id that is not one of ours is
/// ignored (callers send placeholders).
pub fn validate_person(
    raw: RawPerson,
    prefix: &str,
    field_name: fn(&'static str) -> &'static str,
    default_region: &str,
    today: NaiveDate,
    issues: &mut crate::domain::validation::Issues,
) -> Person {
    let field = |info: &'static str| format!("{prefix}.{}", field_name(info));
    let clean = |value: Option<String>| {
        value
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    let mut text = |info: &'static str, value: Option<String>| {
        let value = clean(value);
        if value
            .as_ref()
            .is_some_and(|text| text.chars().count() > MAX_PERSON_TEXT)
        {
            issues.add(
                field(info),
                format!("must be at most {MAX_PERSON_TEXT} characters"),
            );
            return None;
        }
        value
    };
    let first_name = text("firstname", raw.first_name);
    let last_name = text("lastname", raw.last_name);
    let street = text("street", raw.street);
    let zip = text("zip", raw.zip);
    let city = text("city", raw.city);
    let country = text("country", raw.country);
    let email = text("email", raw.email);
    if email
        .as_deref()
        .is_some_and(|email| !is_plausible_email(email))
    {
        issues.add(
            field("email"),
            "must be an email address such as name@example.com",
        );
    }
    let date_of_birth = match clean(raw.date_of_birth) {
        None => None,
        Some(text) => match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) if date <= today => Some(date),
            Ok(_) => {
                issues.add(field("dob"), "must not be in the future");
                None
            }
            Err(_) => {
                issues.add(field("dob"), "must be a date written YYYY-MM-DD");
                None
            }
        },
    };
    let phone = match clean(raw.phone) {
        None => None,
        Some(text) => match crate::domain::phone::normalize_e164(&text, default_region) {
            Ok(e164) => Some(e164),
            Err(message) => {
                issues.add(field("phone"), message);
                None
            }
        },
    };
    Person {
        id: clean(raw.id).and_then(|id| id.parse().ok()),
        first_name,
        last_name,
        date_of_birth,
        phone,
        email: email.filter(|email| is_plausible_email(email)),
        street,
        zip,
        city,
        country,
    }
}

/// Returns whether `email` has one `@` with a local part and a dotted domain. Deliverability
/// is the mail server's business; this only catches what a speech recogniser mangled.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 254
}
