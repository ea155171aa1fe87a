emit tests/cli/data/break17_square.expr -o break17_never.c --header ./break17_never.c
