# shellcheck shell=bash
# Helpers of the demo scripts that replay paths against a running scripts/up with curl
# (scripts/demo-sms, scripts/demo-policies). Source after setting: booking, sim, ours (the
# number texts come from), patience, key (the demo tenant's API key) and tmp (a scratch
# directory). Each path is a function that returns non-zero with $why set when it fails.

# field NAME: the first string value of NAME in the JSON on stdin.
field() { grep -o "\"$1\":[[:space:]]*\"[^\"]*\"" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/' || true; }
# flag NAME: the first literal value (true, false, null) of NAME in the JSON on stdin.
flag() { grep -o "\"$1\":[[:space:]]*[a-z]*" | head -n1 | sed 's/.*:[[:space:]]*//' || true; }
# count TEXT: how often TEXT occurs in stdin.
count() { grep -oF -- "$1" | wc -l | tr -d ' ' || true; }
# enc NUMBER: NUMBER with its '+' written for a URL.
enc() { printf '%%2B%s' "${1#+}"; }

# http METHOD URL [BODY [CONTENT_TYPE]] -> prints the status code; the body is in $tmp/body,
# the headers in $tmp/headers.
# Booking-service URLs carry the demo tenant's API key.
http() {
    local method=$1 url=$2 body=${3:-} type=${4:-application/json} auth=()
    [[ "$url" == "$booking"/* ]] && auth=(-H "Authorization: Bearer $key")
    : >"$tmp/body"
    curl -sS --max-time 10 -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' -X "$method" "$url" "${auth[@]}" \
        ${body:+-H "Content-Type: $type" --data "$body"} 2>"$tmp/curl-error" || true
}
resp() { cat "$tmp/body" 2>/dev/null || true; }
# location_id: the last path segment of the Location header of the last answer (the id of
# what a POST created; the body of an idempotent answer lists its keys in another order).
location_id() { tr -d '\r' <"$tmp/headers" | sed -n 's|^[Ll]ocation:[[:space:]]*.*/\([0-9a-f-]*\)$|\1|p' | head -n1; }

# Why the current path failed, and the last thing a wait saw (for the failure line).
why=""
last=""
# expect WHAT WANTED GOT: fails the path unless GOT is WANTED.
expect() {
    [[ "$3" == "$2" ]] && return 0
    why="$1: expected $2, got ${3:-nothing}"
    return 1
}
# request NAME WANTED_CODE METHOD URL [BODY [TYPE]]: fails the path unless the status matches.
request() {
    local what=$1 wanted=$2 code
    shift 2
    code=$(http "$@")
    [[ "$code" == "$wanted" ]] && return 0
    why="$what: expected HTTP $wanted, got $code $(resp)$(cat "$tmp/curl-error" 2>/dev/null)"
    return 1
}
# wait_until WHAT COMMAND...: runs COMMAND every half second until it succeeds, for at most
# $patience seconds. COMMAND puts what it saw into $last.
wait_until() {
    local what=$1 deadline=$((SECONDS + patience))
    shift
    last=""
    until "$@"; do
        if ((SECONDS >= deadline)); then
            why="no $what within ${patience}s (last seen: ${last:-nothing})"
            return 1
        fi
        sleep 0.5
    done
}

# appointment_is ID STATUS OUTCOME: the native appointment has that status ("-": any) and
# its first reminder that outcome.
appointment_is() {
    local code status outcome
    code=$(http GET "$booking/v1/appointments/$1")
    status=$(resp | field status)
    outcome=$(resp | field outcome)
    last="HTTP $code, status ${status:-none}, reminder outcome ${outcome:-none}"
    [[ "$code" == 200 && ("$2" == - || "$status" == "$2") && "$outcome" == "$3" ]]
}
# texts NUMBER: the texts we sent to NUMBER, as the simulator saw them, into $tmp/texts.
texts() {
    [[ "$(http GET "$sim/sim/messages?to=$(enc "$1")")" == 200 ]] || return 1
    resp >"$tmp/texts"
}
text_count() { count '"direction":"outbound"' <"$tmp/texts"; }
# has_texts NUMBER N [TEXT]: at least N texts reached NUMBER (and one of them holds TEXT).
has_texts() {
    texts "$1" || { last="the simulator does not answer"; return 1; }
    last="$(text_count) text(s): $(grep -o '"body":"[^"]*"' "$tmp/texts" | tr '\n' ' ')"
    (($(text_count) >= $2)) && { [[ -z "${3:-}" ]] || grep -qF -- "$3" "$tmp/texts"; }
}
used_numbers=" "
# fresh LAST_DIGIT: sets $number to a North American number ending in LAST_DIGIT that the
# simulator has neither texted nor called (so its scripted recipient starts afresh).
number=""
fresh() {
    local tries=0
    while ((tries++ < 50)); do
        # Area code 201, a random exchange (2xx-9xx) and line: 800,000 numbers per last digit.
        number=$(printf '+1201%03d%03d%s' $((200 + RANDOM % 800)) $((RANDOM % 1000)) "$1")
        [[ "$used_numbers" == *" $number "* ]] && continue
        [[ "$(http GET "$sim/sim/messages?to=$(enc "$number")")" == 200 && "$(resp)" == "[]" ]] || continue
        [[ "$(http GET "$sim/sim/calls?to=$(enc "$number")")" == 200 && "$(resp)" == "[]" ]] || continue
        used_numbers+="$number "
        return 0
    done
    number=""
    why="no fresh number ending in $1 (is carrier-sim at $sim running?)"
    return 1
}

# sim_script NUMBER JSON: how the simulated recipient at NUMBER replies.
sim_script() {
    request "PUT /sim/sms/scripts/{number}" 200 PUT "$sim/sim/sms/scripts/$(enc "$1")" "$2"
}

# inject NUMBER BODY: NUMBER texts BODY to our number (through the Flowroute API).
inject() {
    request "POST /sim/sms/inbound \"$2\"" 200 POST "$sim/sim/sms/inbound" \
        "{\"api\":\"flowroute\",\"from\":\"$1\",\"to\":\"$ours\",\"body\":\"$2\"}" || return 1
    [[ "$(resp | grep -o '"webhook_statuses":\[[^]]*\]')" == '"webhook_statuses":[200]' ]] ||
        { why="sms-service did not take the injected \"$2\": $(resp)"; return 1; }
}

failures=0
# run NAME FUNCTION: one line per path.
run() {
    local took=$SECONDS
    why=""
    detail=""
    number=""
    if "$2"; then
        printf '  PASS  %-26s %s (%ss)\n' "$1" "$detail" $((SECONDS - took))
    else
        printf '  FAIL  %-26s %s\n' "$1" "${number:+$number: }$why"
        failures=$((failures + 1))
    fi
}


# path_settings: the demo tenant's calling hours become the whole day, so that a demo works at
# any hour (the sending-hour rule itself is covered by tests).
path_settings() {
    local before
    request "GET /v1/settings/reminders" 200 GET "$booking/v1/settings/reminders" || return 1
    before=$(resp)
    request "PUT /v1/settings/reminders" 200 PUT "$booking/v1/settings/reminders" \
        '{"callingHours":{"start":"00:00","end":"24:00"}}' || return 1
    request "GET /v1/settings/reminders" 200 GET "$booking/v1/settings/reminders" || return 1
    expect "calling hours read back" '"callingHours":{"start":"00:00","end":"24:00"}' \
        "$(resp | grep -o '"callingHours":{[^}]*}')" || return 1
    detail="calling hours 00:00-24:00, version $(resp | grep -o '"version":[0-9]*' | cut -d: -f2)"
    # The scheduler, voice-gateway and sms-service learn the settings from
    # tenant.settings_changed, which nothing shows; give a changed window a moment to arrive.
    if [[ "$before" != *'"callingHours":{"start":"00:00","end":"24:00"}'* ]]; then sleep 2; fi
}

