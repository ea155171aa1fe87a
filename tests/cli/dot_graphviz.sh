#!/bin/sh
# dot_graphviz.sh: what `gradc dot` prints is a graph Graphviz draws
# without a warning, for every example, with and without --grad; with
# --grad, every param of a scalar output has its derivative node (dL/dw,
# issue 17), and the legend names the kinds of nodes.
#
#   tests/cli/dot_graphviz.sh GRADC REPO_ROOT
set -u
[ $# -eq 2 ] || { echo "usage: $0 GRADC REPO_ROOT" >&2; exit 2; }
gradc=$1 root=$2
command -v dot >/dev/null || { echo "no Graphviz dot (apt-get install graphviz)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-dot-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0 n=0
for f in "$root"/examples/*.expr "$root"/examples/mgh/*.expr "$root"/tests/cli/data/u17_dot.expr; do
  for g in "" --grad; do
    n=$((n + 1))
    if ! "$gradc" dot "$f" $g >"$tmp/g.dot" 2>"$tmp/err"; then
      echo "FAIL gradc dot $f $g: $(cat "$tmp/err")"; fail=$((fail + 1)); continue
    fi
    if ! dot -Tsvg "$tmp/g.dot" -o "$tmp/g.svg" 2>"$tmp/err" || [ -s "$tmp/err" ]; then
      echo "FAIL dot -Tsvg of gradc dot $f $g: $(cat "$tmp/err")"; fail=$((fail + 1))
    fi
    grep -q 'legend_param \[label="param"' "$tmp/g.dot" || { echo "FAIL $f $g: no legend"; fail=$((fail + 1)); }
    [ -z "$g" ] && continue
    # every param in the graph (a filled box) is the variable of a
    # derivative node
    ders=$(grep -c '^  d[0-9]*_[0-9]* \[label="d' "$tmp/g.dot")
    [ "$ders" -gt 0 ] || { echo "FAIL $f --grad: no derivative node"; fail=$((fail + 1)); }
    for p in $(sed -n 's/^  n[0-9]* \[label="\([A-Za-z_0-9]*\).*shape=box, style=filled.*/\1/p' "$tmp/g.dot"); do
      grep -q "^  d[0-9]*_[0-9]* \[label=\"d[A-Za-z_0-9]*/d$p[\" ]" "$tmp/g.dot" ||
        { echo "FAIL $f --grad: no derivative node for param $p"; fail=$((fail + 1)); }
    done
  done
done
echo "dot_graphviz: $n graphs, $fail failures"
[ "$fail" -eq 0 ]
