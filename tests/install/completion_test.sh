#!/bin/bash
# completion_test.sh: the bash completion of gradc, sourced in bash and run
# on simulated command lines (COMP_WORDS/COMP_CWORD as bash sets them).
#
#   tests/install/completion_test.sh GRADC COMPLETION_FILE
#
# GRADC's directory goes first on PATH, so the completion reads the built
# gradc's --help texts. Each case: a command line (the cursor at its end),
# the words that must be offered and those that must not.
set -u
[ $# -eq 2 ] || { echo "usage: $0 GRADC COMPLETION_FILE" >&2; exit 2; }
gradc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
file=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-compl-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/bin" "$tmp/work/models"
ln -s "$gradc" "$tmp/bin/gradc"
cd "$tmp/work" || exit 2
touch loss.expr model.expr notes.txt params.json data.csv models/deep.expr
export PATH="$tmp/bin:$PATH"

# shellcheck source=/dev/null
source "$file" || { echo "FAIL: sourcing $file"; exit 1; }
fail=0 pass=0
spec=$(complete -p gradc 2>&1)
if [ "$spec" = "complete -F _gradc gradc" ]; then pass=$((pass + 1)); else
  echo "FAIL: complete -p gradc gives '$spec'"; fail=$((fail + 1)); fi

# complete LINE: COMPREPLY for the cursor at the end of LINE, split into
# words as bash does (at spaces and at the characters of COMP_WORDBREAKS)
complete_line() {
  local line=$1
  COMP_LINE=$line COMP_POINT=${#line}
  COMP_WORDS=()
  local rest=$line word=
  while [ -n "$rest" ]; do
    local c=${rest:0:1}
    rest=${rest:1}
    if [ "$c" = " " ]; then
      [ -n "$word" ] && COMP_WORDS+=("$word")
      word=
    elif [ "$c" = "=" ]; then
      [ -n "$word" ] && COMP_WORDS+=("$word")
      COMP_WORDS+=("=")
      word=
    else
      word=$word$c
    fi
  done
  if [ -n "$word" ]; then COMP_WORDS+=("$word"); elif [ "${line: -1}" = " " ]; then COMP_WORDS+=(""); fi
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _gradc gradc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

# check LINE "WANTED..." "UNWANTED..."
check() {
  local got w ok=1
  got=$(complete_line "$1")
  for w in $2; do
    grep -qx -- "$w" <<<"$got" || { ok=0; echo "FAIL: '$1' does not offer $w (offers: $(echo $got))"; }
  done
  for w in $3; do
    ! grep -qx -- "$w" <<<"$got" || { ok=0; echo "FAIL: '$1' offers $w (offers: $(echo $got))"; }
  done
  if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}

# commands, from gradc --help
check "gradc " "$(gradc --help | awk '/^commands:/ {on=1; next} on && /^$/ {exit} on {print $1}') --help --version" ""
check "gradc e" "eval emit" "grad train"
check "gradc tr" "trace train" "eval"
# options, from gradc COMMAND --help and the common ones
check "gradc emit x.expr --" "--abi --header --prefix --json --backend --blas --help --version --inputs" "--tangent --loss --dim"
check "gradc train x.expr --" "--loss --steps --lr --optimizer --batch --save --seed" "--abi --header"
check "gradc jvp loss.expr --t" "--tangent" "--tol"
check "gradc emit loss.expr -" "-o -h" ""
# option values, from the usage words
check "gradc train loss.expr --optimizer " "adam gd momentum" "loss.expr"
check "gradc train loss.expr --optimizer m" "momentum" "adam"
check "gradc emit loss.expr --abi " "default array" ""
check "gradc emit loss.expr --abi=" "default array" ""
check "gradc emit loss.expr --abi=a" "array" "default"
check "gradc jacobian loss.expr --mode r" "reverse" "forward auto"
check "gradc eval loss.expr --backend " "tcc cc" ""
check "gradc eval loss.expr --inputs " "params.json models" "notes.txt loss.expr data.csv"
check "gradc landscape loss.expr --along " "random params.json" "loss.expr"
check "gradc landscape loss.expr --dim " "1 2" ""
check "gradc grad loss.expr --wrt " "" "loss.expr model.expr"
check "gradc hvp loss.expr --wrt " "" "a b a,b"          # a placeholder, not a choice
check "gradc hessian loss.expr --sp" "--sparse" ""
check "gradc jacobian loss.expr --sp" "--sparse" ""
# FILE: .expr files and directories, once
check "gradc grad " "loss.expr model.expr models" "notes.txt params.json data.csv"
check "gradc grad mo" "model.expr models" "loss.expr"
check "gradc grad models/" "models/deep.expr" ""
check "gradc repl " "loss.expr model.expr" "notes.txt"
check "gradc grad --json " "loss.expr model.expr" "notes.txt"
check "gradc grad --backend cc " "loss.expr" "notes.txt"
check "gradc grad loss.expr " "" "loss.expr model.expr"
check "gradc grad loss.expr w=2 " "" "loss.expr model.expr"
check "gradc jvp loss.expr --tangent w=1 " "" "loss.expr"

echo "completion: $pass passed, $fail failed"
[ $fail -eq 0 ]
