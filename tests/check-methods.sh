#!/bin/bash
# Every method has every part HACKING.md's recipe "A method" lists: its
# name in include/agentid/, an entry in the method table (broker/methods.c),
# a heading in docs/protocol.md and its name in agentidd(8). A method added
# without one of them fails here.
set -euo pipefail
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
fail=0 n=0
while read -r constant name; do
        n=$((n + 1))
        grep -q "{ $constant," "$src/broker/methods.c" ||
                { echo "check-methods: $name ($constant) has no entry in broker/methods.c's table"; fail=1; }
        grep -Eq "^### .*(io\.agentid\.)?\b$name\b" "$src/docs/protocol.md" ||
                { echo "check-methods: $name has no heading in docs/protocol.md"; fail=1; }
        grep -q "\\\\fB$name\\\\fR" "$src/man/agentidd.8" ||
                { echo "check-methods: $name is not listed in man/agentidd.8"; fail=1; }
done < <(sed -n 's/^#define \(AGENTID_METHOD_[A-Z_]*\) "io\.agentid\.\([A-Za-z]*\)".*/\1 \2/p' \
        "$src"/include/agentid/*.h)
((n > 0)) || { echo "check-methods: no AGENTID_METHOD_* found" >&2; exit 99; }
((fail == 0)) || exit 1
echo "check-methods: $n methods, each in the table, docs/protocol.md and agentidd(8)"
