#!/bin/sh
# man_drift.sh: the man pages render cleanly and say what gradc does.
#
#   tests/install/man_drift.sh GRADC MAN_DIR REPO_ROOT
#
# MAN_DIR holds the pages scdoc made from docs/man/*.scd. Checks:
#   render    `MANWIDTH=80 man -l PAGE` and `groff -k -man -ww -z PAGE` print
#             no warning, for gradc.1 and gradc-expr.5
#   commands  the commands listed by `gradc --help` are exactly the
#             "## NAME" sections under COMMANDS in gradc.1.scd
#   options   for each command C, every option (--word or -x) in
#             `gradc C --help` is named in C's section or in OPTIONS, and
#             every option named in C's section is in `gradc C --help` or
#             a common option; the common options of `gradc --help` are
#             exactly those of the OPTIONS section
#   builtins  every built-in name of src/lower.c appears in gradc-expr.5
# The lists come from the built binary, so a command or an option added
# to gradc without its man page entry (or the reverse) fails here.
set -u
[ $# -eq 3 ] || { echo "usage: $0 GRADC MAN_DIR REPO_ROOT" >&2; exit 2; }
gradc=$1 mandir=$2 root=$3
scd=$root/docs/man/gradc.1.scd
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-man-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# ---- rendering
for page in gradc.1 gradc-expr.5; do
  [ -s "$mandir/$page" ] || { bad "render: no $mandir/$page"; continue; }
  w=$(MANWIDTH=80 man -l "$mandir/$page" 2>&1 >/dev/null)
  [ -z "$w" ] || bad "render: man -l $page: $w"
  w=$(groff -k -man -Tutf8 -ww -z "$mandir/$page" 2>&1)
  [ -z "$w" ] || bad "render: groff $page: $w"
  lines=$(MANWIDTH=80 man -l "$mandir/$page" 2>/dev/null | wc -l)
  [ "$lines" -gt 50 ] || bad "render: $page has only $lines lines"
done

# options named in a text: --word or -x, not inside a word (row-major,
# -Wall, -lm, -0.5 are not options)
options() {
  grep -oP '(?<![A-Za-z0-9_-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![A-Za-z0-9_])' | sort -u
}
# the lines of section $1 ("# X" or "## X") of gradc.1.scd, up to the next
# section of that level or higher
section() {
  awk -v want="$1" '
    /^#+ / { lvl = index($0, " ") - 1
             if (on && lvl <= wlvl) on = 0
             if ($0 == want) { on = 1; wlvl = lvl; next } }
    on' "$scd"
}

# ---- commands
"$gradc" --help >"$tmp/help" || bad "gradc --help exits non-zero"
awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' "$tmp/help" |
  sort >"$tmp/cmds.help"
section "# COMMANDS" | sed -n 's/^## \([a-z][a-z-]*\)$/\1/p' | sort >"$tmp/cmds.man"
[ -s "$tmp/cmds.help" ] || bad "commands: none found in gradc --help"
for c in $(comm -23 "$tmp/cmds.help" "$tmp/cmds.man"); do
  bad "commands: '$c' is in gradc --help but has no section in gradc.1"
done
for c in $(comm -13 "$tmp/cmds.help" "$tmp/cmds.man"); do
  bad "commands: gradc.1 has a section '$c' that gradc --help does not list"
done

# ---- options
sed -n '/^common options:/,/^$/p' "$tmp/help" | options >"$tmp/common.help"
section "# OPTIONS" | options >"$tmp/common.man"
[ -s "$tmp/common.help" ] || bad "options: no common options in gradc --help"
for o in $(comm -23 "$tmp/common.help" "$tmp/common.man"); do
  bad "options: common option $o of gradc --help is not in OPTIONS of gradc.1"
done
for o in $(comm -13 "$tmp/common.help" "$tmp/common.man"); do
  bad "options: OPTIONS of gradc.1 has $o, which gradc --help does not list as common"
done
n=0
for c in $(cat "$tmp/cmds.help"); do
  "$gradc" "$c" --help | options >"$tmp/opt.help" || bad "gradc $c --help exits non-zero"
  section "## $c" | options >"$tmp/opt.man"
  sort -u "$tmp/opt.man" "$tmp/common.man" >"$tmp/opt.man+"
  sort -u "$tmp/opt.help" "$tmp/common.help" >"$tmp/opt.help+"
  for o in $(comm -23 "$tmp/opt.help" "$tmp/opt.man+"); do
    bad "options: $o is in gradc $c --help but not in the $c section of gradc.1"
  done
  for o in $(comm -13 "$tmp/opt.help+" "$tmp/opt.man"); do
    bad "options: the $c section of gradc.1 names $o, which gradc $c --help does not"
  done
  n=$((n + $(wc -l <"$tmp/opt.help")))
done

# ---- built-ins of the language
grep -o '{"[a-z_0-9]*", [A-Z]' "$root/src/lower.c" | sed 's/{"\([a-z_0-9]*\)".*/\1/' | sort -u >"$tmp/builtins"
[ "$(wc -l <"$tmp/builtins")" -gt 40 ] || bad "builtins: could not read the table of src/lower.c"
MANWIDTH=200 man -l "$mandir/gradc-expr.5" 2>/dev/null >"$tmp/expr.txt"
for b in $(cat "$tmp/builtins"); do
  grep -qw -- "$b" "$tmp/expr.txt" || bad "builtins: gradc-expr.5 does not name '$b'"
done

echo "man pages: $(wc -l <"$tmp/cmds.help") commands, $n command options, $(wc -l <"$tmp/common.help")" \
  "common options, $(wc -l <"$tmp/builtins") built-ins checked; $fail problems"
[ $fail -eq 0 ]
