#!/usr/bin/env bash
# Run CDISC's open rules engine (CORE, cdisc-org/cdisc-rules-engine) offline on a folder that
# `xerotrial export sdtm` wrote, and summarise what it reports. Not part of the suite (CORE
# needs Python 3.12 and its own pinned dependencies).
#
#   validation/cdisc_core.sh SRC_GIT_DIR PYTHON3_12 EXPORT_FOLDER OUT_PREFIX
#
# SRC_GIT_DIR: a clone (or bare mirror) of github.com/cdisc-org/cdisc-rules-engine, whose
# resources/cache holds the rules (rules.pkl) and the CT packages. A public snapshot lacks its
# largest files (standards_details.pkl, standards_models.pkl, variables_metadata.pkl and the
# SDTM CT after 2015): a stub for SDTMIG 3.4 stands in, so the rules that need the IG's
# variable metadata (expected/required variables, order, roles, types) fail to run, and no CT
# package is checked. A full cache (`core.py update-cache` with a CDISC Library API key, or a
# CORE release bundle) runs them too. The cache has no ADaM rules. 2026-12-02: the seed demo's
# SDTM, 166 rules passed, 4 reported (see the issue 16 note); the phase II demo's, 124 and 5.
set -euo pipefail
src_git=$1; py=$2; data=$3; out=$4
work=$(mktemp -d /tmp/coreXXXX)
git --git-dir="$src_git" ls-tree -r HEAD | awk '{print $3"\t"$4}' > "$work/all.txt"
while IFS=$'\t' read -r h p; do git --git-dir="$src_git" cat-file -e "$h" 2>/dev/null || echo "$p"; done \
    < "$work/all.txt" > "$work/missing.txt"
mkdir -p "$work/src" "$work/cache"
# shellcheck disable=SC2046
git --git-dir="$src_git" archive HEAD $(grep -v -F -x -f "$work/missing.txt" <(cut -f2 "$work/all.txt")) \
    | tar -x -C "$work/src"
"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install -q -e "$work/src"
ln -s "$work"/src/resources/cache/*.pkl "$work/cache/"
rm -f "$work"/cache/standards_details.pkl "$work"/cache/standards_models.pkl \
    "$work"/cache/variables_metadata.pkl
"$work/venv/bin/python" - "$work/cache" <<'PY'
import pickle, sys
c = sys.argv[1]
pickle.dump({"standards/sdtmig/3-4": {"name": "SDTMIG v3.4", "version": "3.4",
             "_links": {"model": {"href": "/mdr/sdtm/2-0"}}, "classes": []}},
            open(f"{c}/standards_details.pkl", "wb"))
pickle.dump({}, open(f"{c}/standards_models.pkl", "wb"))
pickle.dump({}, open(f"{c}/variables_metadata.pkl", "wb"))
PY
(cd "$work/src" && "$work/venv/bin/python" core.py validate -ca "$work/cache" -s sdtmig -v 3-4 \
    -d "$data" -dxp "$data/define.xml" -of JSON -o "$out" -p disabled -l error)
"$work/venv/bin/python" - "$out.json" <<'PY'
import collections, json, sys
d = json.load(open(sys.argv[1]))
print("rules:", collections.Counter(r["status"] for r in d["Rules_Report"]))
rows = collections.OrderedDict()
for r in d["Issue_Details"]:
    rows.setdefault((r["core_id"], r["message"]), []).append(r)
for (rule, message), found in sorted(rows.items()):
    datasets = ",".join(sorted({r["dataset"] for r in found}))
    print(f"{rule} | {len(found)} | {datasets} | {message[:120]}")
PY
