# bash completion for gradc(1); installed as
# share/bash-completion/completions/gradc.
#
# Completes commands, options, option values and .expr files. Commands
# and options are read from gradc's own --help texts (the command list of
# `gradc --help`, the usage lines of `gradc COMMAND --help` and its common
# options), once per command and shell, so they follow the installed
# gradc. An option's value is completed from its usage: `--mode
# forward|reverse|auto` offers the three words, `--inputs F.json` JSON
# files, `-o OUT.c` files; FILE offers .expr files (and directories).

declare -gA _gradc_opts_cache 2>/dev/null || true

# The commands, one per line.
_gradc_commands() {
  "${_gradc_prog:-gradc}" --help 2>/dev/null |
    awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }'
}

# The options of command $1 (with the common ones), one per line: the
# option, a tab, and the word after it in the usage (empty for a flag).
_gradc_options() {
  local cmd=$1
  if [[ -z ${_gradc_opts_cache[$cmd]+set} ]]; then
    _gradc_opts_cache[$cmd]=$(
      {
        "${_gradc_prog:-gradc}" --help 2>/dev/null | sed -n '/^common options:/,/^$/p' | tr ',' '\n'
        [[ -n $cmd ]] && "${_gradc_prog:-gradc}" "$cmd" --help 2>/dev/null | grep -E '^gradc |^ +\['
      } | grep -oE -- '(^|[][ /])(--[a-z][a-z0-9-]*|-[a-zA-Z])( [^][ ,-][^][ ,]*)?' |
        sed -E 's/^[][ /]//; s/ /\t/' | awk -F'\t' '!seen[$1]++'
    )
  fi
  printf '%s\n' "${_gradc_opts_cache[$cmd]}"
}

# Complete the value of option $1 (usage word $2) from word $3.
_gradc_value() {
  local usage=$2 cur=$3 alt words=() exts=()
  local IFS='|'
  for alt in $usage; do
    case $alt in
      *.json | *.png | *.c | *.h | *.csv) exts+=("${alt##*.}") ;;
      # a choice (forward|reverse|auto), not a placeholder (--wrt a,b)
      [a-z0-9]*) [[ $alt == *[!a-z0-9]* || $usage != *'|'* ]] || words+=("$alt") ;;
    esac
  done
  unset IFS
  COMPREPLY=()
  ((${#words[@]})) && COMPREPLY+=($(compgen -W "${words[*]}" -- "$cur"))
  if ((${#exts[@]})); then
    local e
    compopt -o filenames 2>/dev/null
    for e in "${exts[@]}"; do
      COMPREPLY+=($(compgen -f -X "!*.$e" -- "$cur"))
    done
    COMPREPLY+=($(compgen -d -- "$cur"))
  fi
}

_gradc() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local cmd=${COMP_WORDS[1]} i w opt usage
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "$(_gradc_commands) --help --version" -- "$cur"))
    return
  fi
  local table
  table=$(_gradc_options "$cmd")
  # --opt VALUE and --opt=VALUE (bash splits at '=')
  opt=$prev
  if [[ $prev == = && $COMP_CWORD -ge 3 ]]; then
    opt=${COMP_WORDS[COMP_CWORD - 2]}
  elif [[ $cur == = ]]; then
    opt=$prev cur=
  else
    [[ $prev == -* ]] || opt=
  fi
  if [[ -n $opt ]]; then
    usage=$(awk -F'\t' -v o="$opt" '$1 == o { print $2 }' <<<"$table")
    if [[ -n $usage ]]; then
      _gradc_value "$opt" "$usage" "$cur"
      return
    fi
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(cut -f1 <<<"$table")" -- "$cur"))
    return
  fi
  # the first word after the command that is neither an option nor an
  # option's value is FILE
  local have_file=
  for ((i = 2; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == -* ]]; then
      usage=$(awk -F'\t' -v o="$w" '$1 == o { print $2 }' <<<"$table")
      if [[ -n $usage ]]; then
        ((i++))
        [[ ${COMP_WORDS[i]} == = ]] && ((i++))
      fi
    elif [[ $w != = ]]; then
      have_file=1
      break
    fi
  done
  if [[ -z $have_file ]]; then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -X '!*.expr' -- "$cur") $(compgen -d -- "$cur"))
  fi
}

complete -F _gradc gradc
