#!/usr/bin/env bash
# make mutate's list follows the code: each mutation's text is found once
# in the tree and each test it names exists (scripts/mutate --check). Two
# of its mutations had drifted from the code unseen, and make mutate could
# only say so when run.
. "$(dirname "$0")/lib.sh"

(cd "$top" && scripts/mutate --check) >check.out 2>&1
rc=$?
is "$rc:$(grep -v '^mutate: ' check.out)" "0:" "every mutation's text is found once, its tests exist"
[ "$rc" -eq 0 ] || note check.out
total=$(sed -n 's/^mutate: \([0-9]*\) mutations.*/\1/p' check.out)
[ "${total:-0}" -ge 15 ]
check $? "the list has its mutations (${total:-none})"

# and the check itself fails on a drifted text and on a missing test (a
# copy of the script, in a tree of links to this one's sources)
mkdir -p fake/scripts
for d in preload collector tests; do ln -s "$top/$d" "fake/$d"; done
sed -e 's/n = got - skip;|n = got - skip - 1;/n = got - skip_gone;|n = got - skip - 1;/' \
	-e 's/|tests\/t_lazy.sh$/|tests\/t_gone.sh/' "$top/scripts/mutate" >fake/scripts/mutate
bash fake/scripts/mutate --check >bad.out 2>&1
rc=$?
gone=$(grep -c '^no test   tests/t_gone.sh' bad.out)
is "$rc:$(grep -c '^drifted   stack loses its outermost frame$' bad.out):$([ "$gone" -ge 1 ] && echo named)" \
	"1:1:named" "a drifted text and a missing test are each reported, and fail the check"

done_testing
