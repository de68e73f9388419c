#!/bin/bash
# agentctl's commands are the same set everywhere they are listed: its
# dispatch table (cli/agentctl.c), "agentctl --help", the README's table of
# deliverables and agentctl(1)'s COMMANDS section. A command added to one
# and forgotten in another fails here.
set -uo pipefail

src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${top_builddir:-$src/build}
agentctl=$build/agentctl
[[ -x $agentctl ]] || { echo "check-commands: $agentctl not built" >&2; exit 99; }

sorted() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' '; }

table=$(grep -oE '\{ "[a-z][a-z-]*", cmd_[a-z_]+ \}' "$src/cli/agentctl.c" | cut -d'"' -f2 | sorted)
help=$("$agentctl" --help | sed -n '/^Commands:/,/^Options:/p' | grep -oE '^  [a-z][a-z-]*' | sorted)
readme=$(grep -E '^\| `agentctl` \|' "$src/README.md" | grep -oE '`[a-z][a-z-]*`' | tr -d '`' | grep -vx agentctl |
        sorted)
man=$(sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$src/man/agentctl.1" | grep -A1 '^\.TP' |
        sed -nE 's/^\.B ([a-z\\-]+).*/\1/p; s/^\\fB([a-z\\-]+)\\fR.*/\1/p' | sed 's/\\-/-/g' | sorted)

failures=0
for what in help readme man; do
        if [[ ${!what} != "$table" ]]; then
                echo "check-commands: $what lists: ${!what}" >&2
                echo "check-commands: agentctl.c dispatches: $table" >&2
                failures=$((failures + 1))
        fi
done
[[ -n $table ]] || { echo "check-commands: no commands found in cli/agentctl.c" >&2; exit 99; }
((failures == 0)) || exit 1
echo "check-commands: $(wc -w <<<"$table") commands, the same in agentctl.c, --help, README.md and agentctl(1)"
