#!/usr/bin/env bash
# bonepick's main job, end to end, with the real commands:
#   prepare (balance) -> convert/normalize -> train fastText and Model2Vec (embedded base model)
#   -> evaluate both with an HTML report -> score a corpus -> thresholds -> one results table.
#
#   uv run bash examples/main_job.sh
#
# Runs offline on the SpamAssassin sample in assets/. Environment knobs:
#   BONEPICK_MAIN_DATA  dataset folder (default assets/spamassassin)
#   BONEPICK_MAIN_OUT   output folder  (default runs/main_job; removed and rebuilt each run)
#   BONEPICK_MAIN_EPOCHS  Model2Vec max epochs (default 10; the tests use fewer)
#   BONEPICK_NUM_PROC   worker processes (default 2)
set -euo pipefail

DATA=${BONEPICK_MAIN_DATA:-assets/spamassassin}
OUT=${BONEPICK_MAIN_OUT:-runs/main_job}
EPOCHS=${BONEPICK_MAIN_EPOCHS:-10}
NP=${BONEPICK_NUM_PROC:-2}
BP=${BONEPICK:-bonepick}

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

rm -rf "$OUT"
mkdir -p "$OUT"

step "1/8 label counts of the input"
$BP label-distribution -d "$DATA"

step "2/8 balance train (equal ham and spam; test is kept as it is)"
$BP balance-dataset -i "$DATA" -o "$OUT/balanced" -s 42 -p "$NP"

step "3/8 normalize and convert to fastText files"
$BP convert-to-fasttext -i "$OUT/balanced" -o "$OUT/fasttext-data" -n ultrafine -p "$NP"

step "4/8 train fastText"
$BP train-fasttext -d "$OUT/fasttext-data" -o "$OUT/models/fasttext" --thread 1 -s 42

step "5/8 train Model2Vec on the embedded base model (distilled on first use, then cached)"
$BP train-model2vec -d "$OUT/balanced" -o "$OUT/models/model2vec" -m embedded --normalizer potion \
  --max-epochs "$EPOCHS" -s 42 -p "$NP"

step "6/8 evaluate both on the held-out test split, with plots and an HTML report"
$BP eval -m "$OUT/models/fasttext" -d "$OUT/balanced" --report "$OUT/reports/fasttext"
$BP eval -m "$OUT/models/model2vec" -d "$OUT/balanced" --report "$OUT/reports/model2vec"

step "7/8 score the whole corpus with Model2Vec (attribute files beside the documents)"
$BP infer -m "$OUT/models/model2vec" -i "$DATA" -o "$OUT/scores" --name spam_m2v -p "$NP"
$BP thresholds -d "$OUT/scores" --name spam_m2v --label spam --keep 0.1,0.25,0.5 -o "$OUT/thresholds"

step "8/8 results side by side"
$BP compare -r "$OUT"/models/fasttext/results_*.yaml -r "$OUT"/models/model2vec/results_*.yaml

cat >&2 <<DONE

Outputs in $OUT:
  models/fasttext, models/model2vec   trained models with their cards (bonepick_model.yaml)
  reports/*/report.html               evaluation reports (open in a browser)
  scores/                             per-document scores mirroring the input shards
  thresholds/                         score thresholds that keep 10%, 25%, 50% of documents
DONE
