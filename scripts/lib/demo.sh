# shellcheck shell=bash
# The demo catalog scripts/up seeds for the demo tenant: a physiotherapy practice a
# voicebot can book at (see scripts/demo-voicebot). Needs say/fail from services.sh.

# api METHOD URL API_KEY [BODY] -> prints the body; fails unless the status is 2xx.
demo_api() {
    local method=$1 url=$2 key=$3 body=${4:-} resp code
    resp=$(curl -sS --max-time 10 -w '\n%{http_code}' -X "$method" "$url" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        ${body:+--data "$body"}) || resp=$'\n000'
    code=${resp##*$'\n'}
    body=${resp%$'\n'*}
    if [[ "$code" != 2?? ]]; then
        fail "$method $url -> HTTP $code: $body" || true
        return 1
    fi
    printf '%s\n' "$body"
}

# first_id: the first "id" of a JSON answer on stdin.
first_id() { sed -n 's/^[^{]*{[[:space:]]*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n1; }

# seed_demo_catalog BOOKING_URL API_KEY CATALOG_FILE: creates the practice unless the
# tenant already has an entity; writes the ids to CATALOG_FILE.
seed_demo_catalog() {
    local booking=$1 key=$2 file=$3 existing entity massage gymnastics product agent hours day
    existing=$(demo_api GET "$booking/v1/entities?limit=1" "$key") || return 1
    if [[ "$existing" == *'"id"'* && -s "$file" ]]; then
        say "reusing the demo catalog in ${file#"$ATTEND_ROOT"/}"
        return 0
    fi
    say "seeding the demo catalog (a physiotherapy practice for the voicebot)"
    entity=$(demo_api POST "$booking/v1/entities" "$key" \
        '{"name":"Physiotherapie Gleichgewicht","time_zone":"Europe/Berlin","locale":"de","currency":"EUR","sip_ids":["phoneSipId12345678"],"reminders":[{"channel":"voice","offset":"P1D"}]}' |
        first_id) || return 1
    massage=$(demo_api POST "$booking/v1/appointment-types" "$key" \
        "{\"entity_id\":\"$entity\",\"name\":\"Massage\"}" | first_id) || return 1
    gymnastics=$(demo_api POST "$booking/v1/appointment-types" "$key" \
        "{\"entity_id\":\"$entity\",\"name\":\"Krankengymnastik\"}" | first_id) || return 1
    product=$(demo_api POST "$booking/v1/products" "$key" \
        "{\"appointment_type_id\":\"$massage\",\"name\":\"30 min Massage\",\"duration_minutes\":30,\"description\":\"A 30 mins relaxing massage\",\"price\":45,\"booker_info\":[\"firstname\",\"lastname\",\"phone\",\"email\"],\"participant_info\":[\"firstname\",\"lastname\",\"dob\"]}" |
        first_id) || return 1
    demo_api POST "$booking/v1/products" "$key" \
        "{\"appointment_type_id\":\"$massage\",\"name\":\"45 min Massage\",\"duration_minutes\":45,\"description\":\"A 45 mins relaxing massage\",\"price\":60}" >/dev/null || return 1
    demo_api POST "$booking/v1/products" "$key" \
        "{\"appointment_type_id\":\"$gymnastics\",\"name\":\"Krankengymnastik 60 min\",\"duration_minutes\":60,\"price\":80}" >/dev/null || return 1
    hours=""
    for day in 1 2 3 4 5 6; do
        hours+="${hours:+,}{\"weekday\":$day,\"start\":\"08:00\",\"end\":\"12:00\"},{\"weekday\":$day,\"start\":\"13:00\",\"end\":\"18:00\"}"
    done
    agent=$(demo_api POST "$booking/v1/agents" "$key" \
        "{\"entity_id\":\"$entity\",\"gender\":\"male\",\"first_name\":\"Max\",\"last_name\":\"Mustermann\",\"appointment_type_ids\":[\"$massage\"],\"working_hours\":[$hours]}" |
        first_id) || return 1
    demo_api POST "$booking/v1/agents" "$key" \
        "{\"entity_id\":\"$entity\",\"gender\":\"male\",\"first_name\":\"Hans\",\"last_name\":\"Meyer\",\"appointment_type_ids\":[\"$massage\",\"$gymnastics\"],\"working_hours\":[$hours]}" >/dev/null || return 1
    printf '{"entity_id":"%s","sip_id":"phoneSipId12345678","appointment_type_id":"%s","product_id":"%s","agent_id":"%s"}\n' \
        "$entity" "$massage" "$product" "$agent" >"$file"
}
