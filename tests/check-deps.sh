#!/bin/bash
# No dependency cycle between the broker's files, at symbol level: for every
# object file of broker/, nm says which global symbols it defines and which
# it uses; file A depends on file B when A uses a symbol B defines. The
# files must form a layered graph (event loop and connections at the
# bottom, methods on top, docs/architecture.md). Any strongly connected
# component of two or more files is printed with the symbols on each of its
# edges, and fails the test.
#
# Usage: check-deps.sh [OBJECT...]; without arguments, the broker library's
# objects and agentidd's in $top_builddir.
set -euo pipefail

# The check itself must be able to fail: two objects that call each other
# are a cycle it reports (needs a C compiler, as make check does anyway).
self_test() {
        local tmp out
        tmp=$(mktemp -d)
        printf 'int b_fn(void);\nint a_fn(void) { return b_fn(); }\n' >"$tmp/a.c"
        printf 'int a_fn(void);\nint b_fn(void) { return 0; }\nint c_fn(void) { return a_fn(); }\n' >"$tmp/b.c"
        ${CC:-cc} -c -o "$tmp/a.o" "$tmp/a.c" && ${CC:-cc} -c -o "$tmp/b.o" "$tmp/b.c" || { rm -rf "$tmp"; return 99; }
        if out=$("$0" "$tmp/a.o" "$tmp/b.o"); then
                echo "check-deps: self-test: a cycle between a.c and b.c went unreported" >&2
                rm -rf "$tmp"
                return 1
        fi
        rm -rf "$tmp"
        [[ $out == *"a.c -> b.c: b_fn"* && $out == *"b.c -> a.c: a_fn"* ]] ||
                { echo "check-deps: self-test: cycle not printed: $out" >&2; return 1; }
}

if (($# == 0)); then
        self_test || exit
        builddir=${top_builddir:-.}
        shopt -s nullglob
        objs=("$builddir"/broker/.libs/libagentid_broker_la-*.o)
        ((${#objs[@]})) || objs=("$builddir"/broker/libagentid_broker_la-*.o)
        set -- "${objs[@]}" "$builddir"/broker/agentidd-*.o
fi
(($# >= 2)) || { echo "check-deps: no broker object files found" >&2; exit 99; }

for o in "$@"; do
        [[ -f $o ]] || { echo "check-deps: $o: no such file" >&2; exit 99; }
        # The file's name as in broker/: libagentid_broker_la-task.o -> task.c
        name=${o##*/}
        name=${name#libagentid_broker_la-}
        name=${name#agentidd-}
        name=${name%.o}.c
        nm -g "$o" | awk -v f="$name" 'NF == 2 && $1 == "U" { print "U", f, $2; next }
                                         NF == 3 && $2 ~ /^[BDGRSTVW]$/ { print "D", f, $3 }'
done | awk '
$1 == "D" { def[$3] = $2; files[$2] = 1; next }
$1 == "U" { use[++n_use] = $2 SUBSEP $3; files[$2] = 1; next }
END {
        for (k = 1; k <= n_use; k++) {
                split(use[k], p, SUBSEP)
                from = p[1]; sym = p[2]
                if (!(sym in def) || def[sym] == from)
                        continue
                to = def[sym]
                if (!((from, to) in edge)) {
                        edge[from, to] = sym
                        out[from] = out[from] " " to
                } else
                        edge[from, to] = edge[from, to] ", " sym
        }
        # Tarjan: strongly connected components.
        idx = 0; sp = 0; bad = 0
        for (f in files)
                if (!(f in index_of))
                        visit(f)
        if (bad)
                exit 1
        nf = 0
        for (f in files) nf++
        printf "check-deps: %d broker files, no dependency cycle\n", nf
}
function visit(v,    ws, w, i, n, comp, m, a, b) {
        index_of[v] = low[v] = idx++
        stack[++sp] = v; on_stack[v] = 1
        n = split(out[v], ws, " ")
        for (i = 1; i <= n; i++) {
                w = ws[i]
                if (!(w in index_of)) {
                        visit(w)
                        if (low[w] < low[v]) low[v] = low[w]
                } else if (on_stack[w] && index_of[w] < low[v])
                        low[v] = index_of[w]
        }
        if (low[v] != index_of[v])
                return
        m = 0
        do {
                w = stack[sp--]; on_stack[w] = 0
                comp[++m] = w
        } while (w != v)
        if (m < 2)
                return
        bad = 1
        printf "check-deps: dependency cycle among %d files:", m
        for (i = 1; i <= m; i++) printf " %s", comp[i]
        printf "\n"
        for (a = 1; a <= m; a++)
                for (b = 1; b <= m; b++)
                        if ((comp[a], comp[b]) in edge)
                                printf "  %s -> %s: %s\n", comp[a], comp[b], edge[comp[a], comp[b]]
}'
