#!/bin/sh
# outputs.sh GRADC REPO_ROOT: the files commands write (SPEC 2, 2.3).
#  - An output never overwrites an input: the .expr, a data file read by an
#    @FILE default or NAME=@FILE, --inputs, landscape's --along; named as
#    it is, as ./f, by an absolute path, by a symlink or by a hard link:
#    exit 2 and the input untouched.
#  - Special files are written into, not replaced: a FIFO (with a reader;
#    without one: an error, not a hang), /dev/stdout on a pipe, a symlink
#    to /proc/self/fd/1, /dev/null. A symlink to a regular file stays a
#    symlink and its target gets the output. No temporary file is left.
set -u
gradc=$1
root=$2
case $gradc in /*) ;; *) gradc=$(pwd)/$gradc ;; esac
case $root in /*) ;; *) root=$(pwd)/$root ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-outputs-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 2
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
# expect RC CMD...: the exit code of CMD (its output into out.txt)
expect() {
  want=$1
  shift
  "$@" >out.txt 2>&1
  got=$?
  [ "$got" = "$want" ] || fail "exit $got, want $want: $* ($(head -c 300 out.txt))"
}
# refused OPTION_TEXT CMD...: exit 2, the message names the input
refused() {
  expect 2 "$@"
  grep -q "would overwrite the input file" out.txt || fail "no 'would overwrite' message: $*"
}

cp "$root/examples/seed_scalar.expr" s.expr
cp s.expr s.orig
ln s.expr hard.expr
ln -s s.expr sym.expr
for out in s.expr ./s.expr "$tmp/s.expr" hard.expr sym.expr; do
  refused "$gradc" emit s.expr -o "$out"
  refused "$gradc" emit s.expr --header "$out"
  refused "$gradc" emit s.expr -o ok.c --header "$out"
done
cmp -s s.expr s.orig || fail "emit changed its input s.expr"
[ -L sym.expr ] || fail "sym.expr is no longer a symlink"
[ -e ok.c ] && fail "emit wrote -o although --header was refused"

# data files: an @FILE default, NAME=@FILE, --inputs, --along
cp "$root/examples/iris_mlp.expr" "$root/examples/iris.csv" .
cp iris.csv iris.orig
refused "$gradc" train iris_mlp.expr --steps 1 --save iris.csv
refused "$gradc" train iris_mlp.expr --steps 1 --save ./iris.csv
refused "$gradc" landscape iris_mlp.expr -o iris.csv
ln iris.csv iris_hard.csv
refused "$gradc" landscape iris_mlp.expr -o iris_hard.csv
cmp -s iris.csv iris.orig || fail "train/landscape changed the data file iris.csv"
printf '{"w": 2, "x": 3}\n' >p.json
cp p.json p.orig
refused "$gradc" train s.expr y=1 --inputs p.json --steps 1 --save p.json
printf '[1, 2]\n' >v.json
refused "$gradc" emit s.expr x=@v.json -o v.json
refused "$gradc" landscape s.expr w=1 x=3 y=1 --along p.json -o "$tmp/p.json"
cmp -s p.json p.orig || fail "an input JSON file was changed"

# the output of emit on stdout: what every special file below must receive
"$gradc" emit s.expr >want.c || fail "emit to stdout"

# a FIFO with a reader gets the code and stays a FIFO
mkfifo p.c
cat p.c >fifo.txt &
reader=$!
expect 0 "$gradc" emit s.expr -o p.c
wait $reader
[ -p p.c ] || fail "the FIFO p.c was replaced"
cmp -s fifo.txt want.c || fail "the FIFO's reader did not get the code"
# without a reader: an error at once, not a hang
expect 1 timeout 20 "$gradc" emit s.expr -o p.c
grep -q "no process reads the FIFO" out.txt || fail "FIFO without a reader: $(cat out.txt)"
[ -p p.c ] || fail "the FIFO p.c was replaced (no reader)"

# /dev/stdout on a pipe, and a symlink to /proc/self/fd/1
"$gradc" emit s.expr -o /dev/stdout | cat >stdout.txt
cmp -s stdout.txt want.c || fail "-o /dev/stdout on a pipe"
ln -s /proc/self/fd/1 so
"$gradc" emit s.expr -o so | cat >so.txt
cmp -s so.txt want.c || fail "-o a symlink to /proc/self/fd/1"
[ -L so ] || fail "the symlink to /proc/self/fd/1 was replaced"
expect 0 "$gradc" emit s.expr -o /dev/null
[ -c /dev/null ] || fail "/dev/null is no longer a character device"

# a symlink to a regular file: the link stays, the target is replaced
echo old >target.c
ln -s target.c link.c
expect 0 "$gradc" emit s.expr -o link.c
[ -L link.c ] || fail "the symlink link.c was replaced by a file"
cmp -s target.c want.c || fail "the symlink's target did not get the code"
mkdir sub
ln -s ../target.c sub/up.c
echo old >target.c
expect 0 "$gradc" emit s.expr -o sub/up.c
[ -L sub/up.c ] && cmp -s target.c want.c || fail "a relative symlink into another directory"

# results that cannot be written to stdout are an error, not exit 0
if [ -w /dev/full ]; then
  for c in "eval s.expr w=1 x=2 y=3" "grad s.expr w=1 x=2 y=3" "dot s.expr" "diff s.expr --wrt x"; do
    "$gradc" $c >/dev/full 2>err.txt
    rc=$?
    [ "$rc" = 1 ] && grep -q "cannot write the results" err.txt ||
      fail "gradc $c >/dev/full: exit $rc ($(head -c 200 err.txt))"
  done
fi

# no temporary file anywhere
left=$(find . -name '*.tmp*' | head -3)
[ -z "$left" ] || fail "temporary files left: $left"

[ $fails = 0 ] && echo "outputs: all passed"
[ $fails = 0 ]
