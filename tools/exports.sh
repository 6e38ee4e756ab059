#!/usr/bin/env bash
# Prints the -sEXPORTED_FUNCTIONS list: every function declared in include/pldr.h, plus malloc/free.
grep -oE '\bpldr_[a-z0-9_]+\(' "$(dirname "$0")/../include/pldr.h" | tr -d '(' | sort -u | sed 's/^/_/' | tr '\n' ','
echo _malloc,_free
