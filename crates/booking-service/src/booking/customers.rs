//! The people in a booking: reusing a known customer or creating one.

use std::sync::LazyLock;

use attend_runtime::prepared::PreparedSql;
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

/// A customer as [`resolve`]'s statements return them.
#[derive(QueryableByName)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
struct ResolvedRow {
    id: Uuid,
    name: String,
    phone_e164: Option<String>,
    locale: String,
}

impl From<ResolvedRow> for ResolvedCustomer {
    fn from(row: ResolvedRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            phone: row.phone_e164,
            locale: row.locale,
        }
    }
}

/// What a known customer's row takes from what the caller just told us: every field they
/// gave, keeping what they did not mention. `$3`–`$9` are [`resolve`]'s person fields.
const FILL_IN: &str = "\
    date_of_birth = COALESCE($3, customers.date_of_birth), \
    phone_e164 = COALESCE($4, customers.phone_e164), \
    email = COALESCE($5, customers.email), \
    street = COALESCE($6, customers.street), \
    zip = COALESCE($7, customers.zip), \
    city = COALESCE($8, customers.city), \
    country = COALESCE($9, customers.country), \
    updated_at = now()";

/// The columns and values of a new customer, from [`find_fill_or_insert_sql`]'s parameters.
const NEW_CUSTOMER: &str = "\
    (id, tenant_id, name, first_name_folded, last_name_folded, first_name, last_name, \
     date_of_birth, phone_e164, email, street, zip, city, country, locale) \
    SELECT $10, $1, $11, $12, $2, $13, $14, $3, $4, $5, $6, $7, $8, $9, $15";

/// [`NEW_CUSTOMER`] alone, for a person with nothing to look them up by.
static INSERT_ONLY: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO customers {NEW_CUSTOMER} RETURNING id, name, phone_e164, locale")
});

/// Which of a person's details confirm that a stored customer with their names is them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirmation {
    /// The date of birth (the phone is then not compared: people change numbers).
    DateOfBirth,
    /// The phone.
    Phone,
}

/// Returns the statement that finds the tenant's first live customer (by id) whose folded
/// names match and whom `confirmation` confirms, fills them in, or else inserts `$10`: one
/// round trip for a booking's customer. Parameters: `$1` tenant, `$2` folded last name,
/// `$3`–`$9` date of birth, phone, email, street, zip, city, country, `$10` new id, `$11`
/// display name, `$12` folded first name, `$13` first name, `$14` last name, `$15` locale.
/// Built from constants only, once per variant.
fn find_fill_or_insert_sql(confirmation: Confirmation, match_first_name: bool) -> &'static str {
    static VARIANTS: LazyLock<[String; 4]> = LazyLock::new(|| {
        [
            (Confirmation::DateOfBirth, false),
            (Confirmation::DateOfBirth, true),
            (Confirmation::Phone, false),
            (Confirmation::Phone, true),
        ]
        .map(|(confirmation, match_first_name)| {
            write_find_fill_or_insert(confirmation, match_first_name)
        })
    });
    let index = match confirmation {
        Confirmation::DateOfBirth => 0,
        Confirmation::Phone => 2,
    } + usize::from(match_first_name);
    VARIANTS[index].as_str()
}

fn write_find_fill_or_insert(confirmation: Confirmation, match_first_name: bool) -> String {
    let first_name = if match_first_name {
        "AND first_name_folded = $12"
    } else {
        ""
    };
    let confirmed_by = match confirmation {
        Confirmation::DateOfBirth => "date_of_birth = $3",
        Confirmation::Phone => "phone_e164 = $4",
    };
    format!(
        "WITH found AS ( \
             SELECT id FROM customers \
             WHERE tenant_id = $1 AND deleted_at IS NULL AND last_name_folded = $2 \
               {first_name} AND {confirmed_by} \
             ORDER BY id LIMIT 1 \
         ), filled AS ( \
             UPDATE customers SET {FILL_IN} FROM found WHERE customers.id = found.id \
             RETURNING customers.id, customers.name, customers.phone_e164, customers.locale \
         ), created AS ( \
             INSERT INTO customers {NEW_CUSTOMER} WHERE NOT EXISTS (SELECT 1 FROM found) \
             RETURNING id, name, phone_e164, locale \
         ) \
         SELECT id, name, phone_e164, locale FROM filled \
         UNION ALL \
         SELECT id, name, phone_e164, locale FROM created"
    )
}

/// Returns the customer `person` is: the one with their id, or the one with the same names
/// and the same date of birth or phone; otherwise a new customer. A known customer is
/// filled in with what `person` tells about them.
///
/// Names alone never merge two people: without a date of birth or a phone to confirm, a
/// new customer is created.
pub async fn resolve(
    mut connection: &AsyncPgConnection,
    tenant_id: Uuid,
    person: &Person,
    locale: &str,
) -> Result<ResolvedCustomer, BookingError> {
    if let Some(id) = person.id
        && let Some(known) = fill_in(connection, tenant_id, id, person).await?
    {
        return Ok(known);
    }
    let confirmation = match (&person.last_name, person.date_of_birth, &person.phone) {
        (Some(_), Some(_), _) => Some(Confirmation::DateOfBirth),
        (Some(_), None, Some(_)) => Some(Confirmation::Phone),
        _ => None,
    };
    let first_name = person.first_name.clone().unwrap_or_default();
    let last_name = person.last_name.clone().unwrap_or_default();
    let display_name = format!("{first_name} {last_name}").trim().to_owned();
    let sql = match confirmation {
        Some(confirmation) => find_fill_or_insert_sql(confirmation, person.first_name.is_some()),
        None => INSERT_ONLY.as_str(),
    };
    use diesel::sql_types::Text;
    // A customer found and then soft-deleted before the update reached them yields no row;
    // the second attempt no longer finds them and creates one.
    for _ in 0..2 {
        let statement = PreparedSql::new(sql)
            .bind::<diesel::sql_types::Uuid, _>(tenant_id)
            .bind::<Text, _>(names::fold(&last_name));
        let resolved: Option<ResolvedRow> = bind_details(statement, person)
            .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
            .bind::<Text, _>(&display_name)
            .bind::<Text, _>(names::fold(&first_name))
            .bind::<Text, _>(&first_name)
            .bind::<Text, _>(&last_name)
            .bind::<Text, _>(locale)
            .get_result(&mut connection)
            .await
            .optional()?;
        if let Some(resolved) = resolved {
            return Ok(resolved.into());
        }
    }
    Err(diesel::result::Error::NotFound.into())
}

/// Stores what the caller just told us about the tenant's live customer `id`, keeping what
/// they did not mention; `None` when there is no such customer. One statement.
async fn fill_in(
    mut connection: &AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    person: &Person,
) -> QueryResult<Option<ResolvedCustomer>> {
    static FILL_IN_KNOWN: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE customers SET {FILL_IN} \
             WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL \
             RETURNING id, name, phone_e164, locale"
        )
    });
    let statement = PreparedSql::new(FILL_IN_KNOWN.as_str())
        .bind::<diesel::sql_types::Uuid, _>(id)
        .bind::<diesel::sql_types::Uuid, _>(tenant_id);
    let known: Option<ResolvedRow> = bind_details(statement, person)
        .get_result(&mut connection)
        .await
        .optional()?;
    Ok(known.map(ResolvedCustomer::from))
}

/// Binds `person`'s details as `$3`–`$9` of `statement`, in [`FILL_IN`]'s order: date of
/// birth, phone, email, street, zip, city, country.
fn bind_details<'a>(statement: PreparedSql<'a>, person: &'a Person) -> PreparedSql<'a> {
    use diesel::sql_types::{Date, Nullable, Text};
    statement
        .bind::<Nullable<Date>, _>(person.date_of_birth)
        .bind::<Nullable<Text>, _>(&person.phone)
        .bind::<Nullable<Text>, _>(&person.email)
        .bind::<Nullable<Text>, _>(&person.street)
        .bind::<Nullable<Text>, _>(&person.zip)
        .bind::<Nullable<Text>, _>(&person.city)
        .bind::<Nullable<Text>, _>(&person.country)
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
