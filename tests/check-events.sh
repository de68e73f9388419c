#!/bin/bash
# Every audit event type has all its companions (HACKING.md, "An event
# type"): for each EVENT_X in include/agentid/events.h,
#   - AGENTID_MESSAGE_ID_X, 32 hex digits, unique;
#   - a name in broker/ ([EVENT_X] = "name"), unique;
#   - its journald MESSAGE_ID in broker/ ([EVENT_X] = AGENTID_MESSAGE_ID_X);
#   - a journald message of its own in broker/ (case EVENT_X:);
#   - an entry "-- <id>" in systemd/agentid.catalog;
#   - its name in agentidd(8)'s AGENTID_EVENT list;
# and the catalog has no entry for an id that is no event. Reads source
# text only, so it fails the moment a companion is forgotten.
set -uo pipefail

src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
events_h=$src/include/agentid/events.h
catalog=$src/systemd/agentid.catalog
man=$src/man/agentidd.8
failures=0

fail() {
        echo "check-events: $*" >&2
        failures=$((failures + 1))
}

for f in "$events_h" "$catalog" "$man"; do
        [[ -r $f ]] || { echo "check-events: cannot read $f" >&2; exit 99; }
done
shopt -s nullglob
broker_c=("$src"/broker/*.c)
((${#broker_c[@]})) || { echo "check-events: no broker/*.c under $src" >&2; exit 99; }

# The enumerators, in order, from "enum event_type {" to _EVENT_TYPE_MAX.
mapfile -t events < <(sed -n '/^enum event_type {/,/_EVENT_TYPE_MAX/p' "$events_h" |
        grep -oE '^[[:space:]]*EVENT_[A-Z0-9_]+' | tr -d '[:blank:]')
((${#events[@]} >= 2)) || { echo "check-events: no event types found in $events_h" >&2; exit 99; }

# agentidd(8): the paragraph after ".B AGENTID_EVENT", up to the next ".TP".
man_events=$(sed -n '/^\.B AGENTID_EVENT$/,/^\.TP/p' "$man" | sed '1d;$d' | sed 's/\\-/-/g' | tr ',' '\n' |
        sed 's/^[[:space:]]*//;s/[[:space:]]*$//' | sed '/^$/d')
[[ -n $man_events ]] || fail "$man: no AGENTID_EVENT list"

declare -A seen_name seen_id
for ev in "${events[@]}"; do
        x=${ev#EVENT_}
        id=$(sed -nE "s/^#define AGENTID_MESSAGE_ID_${x}[[:space:]]+\"([^\"]*)\".*/\1/p" "$events_h")
        if [[ ! $id =~ ^[0-9a-f]{32}$ ]]; then
                fail "$ev: no AGENTID_MESSAGE_ID_$x of 32 hex digits in include/agentid/events.h"
        else
                [[ -z ${seen_id[$id]:-} ]] || fail "$ev: MESSAGE_ID $id is also ${seen_id[$id]}'s"
                seen_id[$id]=$ev
                grep -qx -- "-- $id" "$catalog" || fail "$ev: no entry \"-- $id\" in systemd/agentid.catalog"
        fi

        names=$(grep -ohE "\[$ev\][[:space:]]*=[[:space:]]*\"[^\"]*\"" "${broker_c[@]}" | sed -E 's/.*"([^"]*)"/\1/')
        if [[ $(grep -c . <<<"$names") != 1 ]]; then
                fail "$ev: wants exactly one name ([$ev] = \"...\") in broker/*.c, found: ${names:-none}"
        else
                name=$names
                [[ $name =~ ^[a-z][a-z0-9-]*$ ]] || fail "$ev: name \"$name\" is not lower-case-with-dashes"
                [[ -z ${seen_name[$name]:-} ]] || fail "$ev: name \"$name\" is also ${seen_name[$name]}'s"
                seen_name[$name]=$ev
                grep -qx -- "$name" <<<"$man_events" || fail "$ev: \"$name\" missing from AGENTID_EVENT in man/agentidd.8"
        fi

        grep -qE "\[$ev\][[:space:]]*=[[:space:]]*AGENTID_MESSAGE_ID_${x}[[:space:]]*," "${broker_c[@]}" ||
                fail "$ev: no [$ev] = AGENTID_MESSAGE_ID_$x in broker/*.c (its journald MESSAGE_ID)"
        grep -qE "case $ev:" "${broker_c[@]}" || fail "$ev: no \"case $ev:\" in broker/*.c (its journald message)"
done

# Nothing stale: every catalog entry and every man-page name is an event's.
while read -r id; do
        [[ -n ${seen_id[$id]:-} ]] || fail "systemd/agentid.catalog: entry $id is no event's MESSAGE_ID"
done < <(sed -nE 's/^-- ([0-9a-f]{32})$/\1/p' "$catalog")
while read -r name; do
        [[ -n ${seen_name[$name]:-} ]] || fail "man/agentidd.8: AGENTID_EVENT lists \"$name\", which is no event"
done <<<"$man_events"

if ((failures)); then
        echo "check-events: $failures problem(s); see HACKING.md, \"An event type\"" >&2
        exit 1
fi
echo "check-events: ${#events[@]} event types, each with a name, a MESSAGE_ID, a journald message, a catalog entry and a man-page line"
