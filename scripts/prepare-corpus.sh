#!/usr/bin/env bash
# Builds the pretraining corpus of the shipped model (models/kjv-nemotron-mini) and its tokenizer, reproducibly:
#   1. installs Debian's bible-kjv (the `bible` program over bible-kjv-text: the King James Version, public domain)
#      and sentencepiece (spm_train);
#   2. dumps all 31,102 verses, one per line, to data/kjv/verses.tsv (reference TAB text);
#   3. splits them deterministically: every 50th verse (line number % 50 == 25) is held out (2%) -> valid.txt,
#      the rest -> train.txt (verse text only, in canonical order), and the same training verses as whole chapters
#      -> train-passages.txt (a chapter's verses one per line, chapters separated by an empty line);
#   4. trains the SentencePiece BPE tokenizer on train.txt -> data/tok/kjv.model;
#   5. writes examples/data/testaments.jsonl: 500 Old + 500 New Testament verses, sampled and shuffled with a
#      fixed seed ({"text", "label": "old"|"new"}), for the classification demo.
# data/ is git-ignored. Usage: scripts/prepare-corpus.sh [--no-install] [--vocab N]
set -euo pipefail
cd "$(dirname "$0")/.."
VOCAB=4096
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) INSTALL=0 ;;
    --vocab) VOCAB="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$INSTALL" = 1 ] && ! { command -v bible >/dev/null && command -v spm_train >/dev/null; }; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y bible-kjv sentencepiece
fi

mkdir -p data/kjv data/tok
# `bible -f` prints one verse per line as "Ge1:1 In the beginning ..."; the range spans the whole book.
bible -f "gen1:1-rev22:21" | sed -E 's/^([^ ]+) /\1\t/' > data/kjv/verses.tsv
n=$(wc -l < data/kjv/verses.tsv)
[ "$n" = 31102 ] || { echo "expected 31102 verses, got $n" >&2; exit 1; }
awk -F'\t' 'NR % 50 != 25 { print $2 }' data/kjv/verses.tsv > data/kjv/train.txt
awk -F'\t' 'NR % 50 == 25 { print $2 }' data/kjv/verses.tsv > data/kjv/valid.txt
# The chapter of "1Sa3:10" is "1Sa3"; a held-out verse is left out of its chapter, which closes up around it.
awk -F'\t' '{ ch = $1; sub(/:[0-9]+$/, "", ch) }
  NR % 50 == 25 { next }
  ch != prev { if (n++) print ""; prev = ch }
  { print $2 }' data/kjv/verses.tsv > data/kjv/train-passages.txt
echo "verses: $n, train $(wc -l < data/kjv/train.txt) (in $(grep -c '^$' data/kjv/train-passages.txt | awk '{ print $1 + 1 }') chapters), valid $(wc -l < data/kjv/valid.txt)" >&2

# The tokenizer: BPE with byte fallback and split digits, special ids as Nemotron's (pad 0, unk 1, bos 2, eos 3).
spm_train --input=data/kjv/train.txt --model_prefix=data/tok/kjv --model_type=bpe --vocab_size="$VOCAB" \
  --character_coverage=1.0 --byte_fallback=true --split_digits=true --normalization_rule_name=identity \
  --pad_id=0 --unk_id=1 --bos_id=2 --eos_id=3 --pad_piece='<pad>' --unk_piece='<unk>' --bos_piece='<s>' --eos_piece='</s>' \
  --num_threads=2 --random_seed=1 --minloglevel=1

# The labelled demo dataset (Matthew 1:1 is verse 23146: the first of the New Testament).
node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
const lines = readFileSync("data/kjv/verses.tsv", "utf8").split("\n").filter(Boolean).map((l) => l.split("\t")[1]);
let s = 42 >>> 0; // mulberry32: a fixed-seed PRNG, the same on every machine
const rand = () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const shuffle = (a) => { for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; } return a; };
const NT = 23145;
const pick = (arr, k) => shuffle(arr.filter((t) => t.length >= 20 && t.length <= 300)).slice(0, k);
const rows = shuffle([...pick(lines.slice(0, NT), 500).map((text) => ({ text, label: "old" })), ...pick(lines.slice(NT), 500).map((text) => ({ text, label: "new" }))]);
writeFileSync("examples/data/testaments.jsonl", rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
console.error(`examples/data/testaments.jsonl: ${rows.length} rows`);
'
